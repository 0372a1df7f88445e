//! `check`: validate the configuration and reach Streak (every key), Kafka (the
//! topics and the state topic's compaction) and the Schema Registry, printing one
//! verdict a line, writing nothing. Exit non-zero when any item failed.

use crate::config::{Config, Env, SettingsArgs};
use crate::connector::startup;
use crate::kafka::inspect::{inspect_topics, CHECK_TIMEOUT};

use super::verdict::Verdict;

fn print(v: &Verdict) {
    println!(
        "{} {}: {}",
        if v.ok { "[ok]  " } else { "[FAIL]" },
        v.item,
        v.detail
    );
}

/// Runs every check; the error counts the failures.
pub async fn check(args: &SettingsArgs, env: &Env) -> anyhow::Result<()> {
    let mut verdicts = Vec::new();
    let mut push = |v: Verdict| {
        print(&v);
        verdicts.push(v.ok);
    };
    let config = match Config::load(args, env) {
        Ok(c) => {
            push(Verdict {
                ok: true,
                item: "config".into(),
                detail: format!(
                    "{} API key(s), events topic {}, state topic {}, OCSF topic {}",
                    c.api_keys.len(),
                    c.kafka.events_topic,
                    c.kafka.state_topic,
                    c.kafka.ocsf_topic.as_deref().unwrap_or("off")
                ),
            });
            c
        }
        Err(e) => {
            push(Verdict {
                ok: false,
                item: "config".into(),
                detail: e.to_string(),
            });
            anyhow::bail!("configuration invalid");
        }
    };

    // Streak: every key, grouped into its organization's pool, with its owner.
    let (streak, warnings) = super::check_keys::check_streak(&config).await;
    for v in streak {
        push(v);
    }
    for w in &warnings {
        println!("[warn]  {w}");
    }
    for v in check_kafka(&config)
        .await
        .into_iter()
        .chain(check_registry(&config).await)
    {
        push(v);
    }

    let failed = verdicts.iter().filter(|ok| !**ok).count();
    if failed == 0 {
        println!("all {} checks passed", verdicts.len());
        Ok(())
    } else {
        anyhow::bail!("{failed} of {} checks failed", verdicts.len())
    }
}

/// Kafka: reach the cluster, look at the topics, check compaction.
async fn check_kafka(config: &Config) -> Vec<Verdict> {
    let mut out = Vec::new();
    let mut kafka = config.kafka.clone();
    kafka.request_timeout = CHECK_TIMEOUT;
    match inspect_topics(&kafka).await {
        Err(e) => out.push(Verdict {
            ok: false,
            item: format!("kafka {}", config.kafka.bootstrap_servers),
            detail: e.to_string(),
        }),
        Ok(t) => {
            out.push(Verdict {
                ok: true,
                item: format!("kafka {}", config.kafka.bootstrap_servers),
                detail: "reachable".into(),
            });
            out.push(Verdict {
                ok: true,
                item: format!("events topic {}", kafka.events_topic),
                detail: match t.events_partitions {
                    Some(n) => format!("exists, {n} partitions"),
                    None => format!(
                        "absent: run creates it (partitions {}, replication factor {}; -1: the broker's default)",
                        kafka.partitions, kafka.replication_factor
                    ),
                },
            });
            if let Some(topic) = &kafka.ocsf_topic {
                out.push(ocsf_verdict(topic, t.ocsf_partitions, &kafka));
            }
            match (t.state_partitions, t.state_compaction) {
                (None, _) => out.push(Verdict {
                    ok: true,
                    item: format!("state topic {}", kafka.state_topic),
                    detail: "absent: run creates it, compacted".into(),
                }),
                (Some(n), Some(Ok(()))) => out.push(Verdict {
                    ok: true,
                    item: format!("state topic {}", kafka.state_topic),
                    detail: format!("exists, {n} partitions, compacted"),
                }),
                (Some(_), Some(Err(e))) => out.push(Verdict {
                    ok: false,
                    item: format!("state topic {}", kafka.state_topic),
                    detail: e.to_string(),
                }),
                (Some(n), None) => out.push(Verdict {
                    ok: true,
                    item: format!("state topic {}", kafka.state_topic),
                    detail: format!(
                        "exists, {n} partitions; compaction not verified (kafka.topic_policy = \"trust\")"
                    ),
                }),
            }
        }
    }

    out
}

/// The OCSF topic, when set: created like the events topic.
fn ocsf_verdict(
    topic: &str,
    partitions: Option<usize>,
    kafka: &crate::kafka::KafkaConfig,
) -> Verdict {
    Verdict {
        ok: true,
        item: format!("OCSF topic {topic}"),
        detail: match partitions {
            Some(n) => format!("exists, {n} partitions"),
            None => format!(
                "absent: run creates it (partitions {}, replication factor {}; -1: the broker's default)",
                kafka.partitions, kafka.replication_factor
            ),
        },
    }
}

/// Schema Registry: reachable and answering.
async fn check_registry(config: &Config) -> Vec<Verdict> {
    let mut out = Vec::new();
    if let Some(r) = &config.schema_registry {
        let item = format!(
            "schema registry {}",
            crate::redact::redact_url(r.url.as_str())
        );
        let verdict = match startup::registry_client(r) {
            Err(e) => Verdict {
                ok: false,
                item,
                detail: e.to_string(),
            },
            Ok(client) => match client.subjects().await {
                Ok(subjects) => Verdict {
                    ok: true,
                    item,
                    detail: format!("reachable, {} subjects", subjects.len()),
                },
                Err(e) => Verdict {
                    ok: false,
                    item,
                    detail: e.to_string(),
                },
            },
        };
        out.push(verdict);
    }

    out
}
