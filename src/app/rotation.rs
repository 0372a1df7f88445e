//! `run`'s key rotation (issue 12.3): the scheduler's tasks of a started connector
//! (a poller per organization, a reporting task per key rejected at start-up), and
//! the rotation that re-reads `--api-key-file` and hands the scheduler a task for
//! every new organization (and every new key Streak rejects).

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::connector::keys::rejected::RejectedKey;
use crate::connector::keys::rejected_task::RejectedKeyTask;
use crate::connector::keys::ring::KeyRing;
use crate::connector::keys::rotation::{ClientFactory, NewTask, Rotation};
use crate::connector::{OrgPoller, PollContext, Started};
use crate::keypool::WatchSettings;
use crate::scheduler::Pollable;
use crate::streak::{ApiKey, StreakApi, StreakClient};

/// What the scheduler's tasks are made of.
#[derive(Debug, Clone)]
pub(crate) struct TaskMaker {
    ctx: Arc<PollContext>,
    ring: Arc<KeyRing>,
}

impl TaskMaker {
    pub(crate) fn new(started: &Started) -> Self {
        TaskMaker {
            ctx: started.context.clone(),
            ring: started.ring.clone(),
        }
    }

    /// The task of a new organization's pool, or of a rejected key.
    pub(crate) fn task(&self, new: NewTask) -> Box<dyn Pollable> {
        match new {
            NewTask::Organization(keys) => Box::new(OrgPoller::new(keys, self.ctx.clone())),
            NewTask::Rejected(key) => self.rejected(key),
        }
    }

    fn rejected(&self, key: RejectedKey) -> Box<dyn Pollable> {
        Box::new(RejectedKeyTask::new(
            key,
            self.ring.clone(),
            self.ctx.health.clone(),
            self.ctx.status.clone(),
            self.ctx.metrics.clone(),
        ))
    }

    /// Every task of a started connector: its pollers, then a task per key
    /// rejected at start-up.
    pub(crate) fn initial(
        &self,
        pollers: Vec<OrgPoller>,
        rejected: Vec<RejectedKey>,
    ) -> Vec<Box<dyn Pollable>> {
        let mut tasks: Vec<Box<dyn Pollable>> = pollers
            .into_iter()
            .map(|p| Box::new(p) as Box<dyn Pollable>)
            .collect();
        tasks.extend(rejected.into_iter().map(|k| self.rejected(k)));
        tasks
    }
}

/// Starts the key rotation of `run`: returns the channel of the tasks it adds.
pub(crate) fn start(
    config: &Config,
    started: &Started,
    cancel: CancellationToken,
) -> mpsc::UnboundedReceiver<Box<dyn Pollable>> {
    let metrics = started.context.metrics.clone();
    let client_config = config.streak.clone();
    let client_metrics = metrics.clone();
    let factory: ClientFactory = Arc::new(move |key: ApiKey| {
        StreakClient::new(client_config.clone(), key, client_metrics.clone())
            .map(|c| Arc::new(c) as Arc<dyn StreakApi>)
    });
    let from_env = config.api_keys_from_env.min(config.api_keys.len());
    let keys = |secrets: &[crate::config::Secret]| -> Vec<ApiKey> {
        secrets
            .iter()
            .filter_map(|s| ApiKey::new(s.expose().to_owned()).ok())
            .collect()
    };
    let fixed: HashSet<String> = keys(&config.api_keys[..from_env])
        .iter()
        .map(|k| k.fingerprint().to_owned())
        .collect();
    let file_keys = keys(&config.api_keys[from_env..]);
    let (new_tx, mut new_rx) = mpsc::unbounded_channel::<NewTask>();
    let (task_tx, task_rx) = mpsc::unbounded_channel();
    Rotation {
        ring: started.ring.clone(),
        factory,
        key_file: config.api_key_file.clone(),
        watch: WatchSettings::default(),
        fixed,
        file_keys,
        metrics,
        health: Some(started.context.health.clone()),
        pending_retry: config
            .poll_interval
            .min(crate::connector::keys::rotation::PENDING_RETRY_EVERY),
        new_tasks: new_tx,
    }
    .spawn(cancel);
    let maker = TaskMaker::new(started);
    tokio::spawn(async move {
        while let Some(new) = new_rx.recv().await {
            if task_tx.send(maker.task(new)).is_err() {
                return;
            }
        }
    });
    task_rx
}
