//! The scheduler: polls every organization on its own interval with jitter.
//!
//! Each organization is one task looping over "wait, poll", so two cycles of one
//! organization never overlap. A semaphore bounds how many organizations poll at
//! once. One organization's failure never stops the others; only a fatal error (the
//! producer was fenced by another instance) stops the whole connector.
//!
//! Shutdown: when the token is cancelled, no new cycle starts; a cycle in flight is
//! told (through the same token) and finishes by committing or aborting its
//! transaction. The caller bounds how long it waits for that.
//!
//! This module knows nothing of Streak or Kafka: it drives [`Pollable`]s.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// What one cycle came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollStatus {
    /// Committed (or nothing to do).
    Done,
    /// Held by the departure guard: nothing written, poll again at the next interval.
    Held,
    /// Failed; the next cycle comes at the next interval, or sooner with backoff when
    /// `retry_soon` (e.g. the broker went away mid-commit).
    Failed { retry_soon: bool },
    /// Shutdown was requested before anything was written.
    Cancelled,
    /// The task has nothing left to poll (a rejected key that left the key file):
    /// its loop ends.
    Retired,
}

/// A fatal error that stops the connector, with its sources (for `main`).
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct Fatal(Arc<dyn std::error::Error + Send + Sync>);

impl Fatal {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Fatal(Arc::new(error))
    }
}

/// A poll task panicked.
#[derive(Debug, thiserror::Error)]
#[error("poll task crashed")]
struct TaskCrashed(#[source] tokio::task::JoinError);

/// One organization's poll cycle, as the scheduler sees it.
#[async_trait]
pub trait Pollable: Send {
    /// A label for logs.
    fn name(&self) -> &str;
    /// Runs one cycle. `shutdown` is cancelled when the process is stopping: a cycle
    /// that has not started its transaction returns `Cancelled`; one that has,
    /// finishes it.
    async fn poll(&mut self, shutdown: &CancellationToken) -> Result<PollStatus, Fatal>;
}

/// How polls are spaced.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub interval: Duration,
    /// Fraction of `interval` used as uniform jitter either side (0.1 = ±10%).
    pub jitter: f64,
    /// Organizations polling at the same time at most.
    pub max_concurrent: usize,
    /// First retry delay after a `retry_soon` failure; doubles up to `interval`.
    pub retry_base: Duration,
    /// Cycles of each organization before its loop ends (`demo --cycles`); `None`
    /// polls until shutdown.
    pub max_cycles: Option<u64>,
}

impl Schedule {
    /// The delay before the next cycle after a normal one.
    pub fn next_delay(&self, rng: &mut impl Rng) -> Duration {
        let base = self.interval.as_secs_f64();
        let j = self.jitter.clamp(0.0, 0.5);
        let factor = if j > 0.0 {
            rng.random_range(1.0 - j..=1.0 + j)
        } else {
            1.0
        };
        Duration::from_secs_f64(base * factor)
    }

    /// The delay before retry number `attempt` (1-based) after a `retry_soon` failure.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        let d = self.retry_base.saturating_mul(1u32 << exp);
        d.min(self.interval)
    }
}

/// Polls every task forever, until `shutdown` is cancelled or a task fails fatally.
/// The first cycle of each organization starts at once (spread by a small random
/// delay so many organizations do not hit the API at the same instant).
pub async fn run_forever(
    tasks: Vec<Box<dyn Pollable>>,
    schedule: Schedule,
    shutdown: CancellationToken,
) -> Result<(), Fatal> {
    let (_, no_new_tasks) = mpsc::unbounded_channel();
    run_growing(tasks, no_new_tasks, schedule, shutdown).await
}

/// As [`run_forever`], and every task that arrives on `new_tasks` joins at run time
/// (a key of a new organization added to the key file): its first cycle starts at
/// once. Ends when every task has ended and `new_tasks` is closed, at shutdown, or
/// on a fatal error.
pub async fn run_growing(
    tasks: Vec<Box<dyn Pollable>>,
    mut new_tasks: mpsc::UnboundedReceiver<Box<dyn Pollable>>,
    schedule: Schedule,
    shutdown: CancellationToken,
) -> Result<(), Fatal> {
    let permits = Arc::new(Semaphore::new(schedule.max_concurrent.max(1)));
    let stop_all = shutdown.child_token();
    let mut set = JoinSet::new();
    let n = tasks.len().max(1) as u32;
    for task in tasks {
        set.spawn(org_loop(
            task,
            schedule,
            permits.clone(),
            stop_all.clone(),
            n,
        ));
    }
    let mut open = true;
    let mut result = Ok(());
    loop {
        let joined = tokio::select! {
            joined = set.join_next(), if !set.is_empty() => joined,
            task = new_tasks.recv(), if open && !stop_all.is_cancelled() => {
                match task {
                    Some(task) => {
                        set.spawn(org_loop(task, schedule, permits.clone(), stop_all.clone(), 1));
                    }
                    None => open = false,
                }
                continue;
            }
            () = stop_all.cancelled(), if set.is_empty() && open => None,
            else => None,
        };
        let Some(joined) = joined else { break };
        let failure = match joined {
            Ok(Ok(())) => None,
            Ok(Err(fatal)) => Some(fatal),
            Err(join_error) => Some(Fatal::new(TaskCrashed(join_error))),
        };
        if let Some(fatal) = failure {
            if result.is_ok() {
                result = Err(fatal);
            }
            stop_all.cancel();
        }
    }
    result
}

async fn org_loop(
    mut task: Box<dyn Pollable>,
    schedule: Schedule,
    permits: Arc<Semaphore>,
    stop: CancellationToken,
    spread_over: u32,
) -> Result<(), Fatal> {
    // Spread the first polls of many organizations over up to a second each.
    let initial = {
        let mut rng = rand::rng();
        let max_ms = (u64::from(spread_over.saturating_sub(1)) * 1000)
            .min(schedule.interval.as_millis() as u64 / 2);
        Duration::from_millis(if max_ms == 0 {
            0
        } else {
            rng.random_range(0..=max_ms)
        })
    };
    let mut delay = initial;
    let mut failures_in_row = 0u32;
    let mut cycles = 0u64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
        let status = {
            let _permit = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                p = permits.acquire() => match p {
                    Ok(p) => p,
                    Err(_) => return Ok(()),
                },
            };
            task.poll(&stop).await?
        };
        cycles += 1;
        if schedule.max_cycles.is_some_and(|max| cycles >= max) {
            return Ok(());
        }
        delay = match status {
            PollStatus::Done | PollStatus::Held => {
                failures_in_row = 0;
                schedule.next_delay(&mut rand::rng())
            }
            PollStatus::Failed { retry_soon: true } => {
                failures_in_row += 1;
                schedule.retry_delay(failures_in_row)
            }
            PollStatus::Failed { retry_soon: false } => {
                failures_in_row += 1;
                schedule.next_delay(&mut rand::rng())
            }
            PollStatus::Cancelled | PollStatus::Retired => return Ok(()),
        };
        tracing::debug!(org = task.name(), ?status, next_in = ?delay, "Cycle finished");
    }
}

/// Polls every task once, at most `max_concurrent` at a time, and hands each task
/// back with its outcome, in the tasks' order.
pub async fn run_once<P: Pollable + 'static>(
    tasks: Vec<P>,
    max_concurrent: usize,
    shutdown: CancellationToken,
) -> Vec<(P, Result<PollStatus, Fatal>)> {
    let permits = Arc::new(Semaphore::new(max_concurrent.max(1)));
    let mut set = JoinSet::new();
    for (i, mut task) in tasks.into_iter().enumerate() {
        let permits = permits.clone();
        let stop = shutdown.clone();
        set.spawn(async move {
            let result = match permits.acquire().await {
                Ok(_permit) => task.poll(&stop).await,
                Err(_) => Ok(PollStatus::Cancelled),
            };
            (i, task, result)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(r) => out.push(r),
            // A panicking poll loses its task; the others are still reported.
            Err(e) => tracing::error!(error = %e, "Poll task crashed"),
        }
    }
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, t, r)| (t, r)).collect()
}

#[async_trait]
impl Pollable for Box<dyn Pollable> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn poll(&mut self, shutdown: &CancellationToken) -> Result<PollStatus, Fatal> {
        (**self).poll(shutdown).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// A task that records when it ran and plays a script of outcomes.
    #[derive(Debug)]
    struct Scripted {
        name: String,
        script: Vec<Result<PollStatus, Fatal>>,
        calls: Arc<Mutex<Vec<tokio::time::Instant>>>,
        running: Arc<AtomicUsize>,
        max_running: Arc<AtomicUsize>,
        work: Duration,
    }

    #[async_trait]
    impl Pollable for Scripted {
        fn name(&self) -> &str {
            &self.name
        }
        async fn poll(&mut self, _: &CancellationToken) -> Result<PollStatus, Fatal> {
            let now_running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(now_running, Ordering::SeqCst);
            if let Ok(mut c) = self.calls.lock() {
                c.push(tokio::time::Instant::now());
            }
            tokio::time::sleep(self.work).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if self.script.is_empty() {
                Ok(PollStatus::Done)
            } else {
                self.script.remove(0)
            }
        }
    }

    fn scripted(
        name: &str,
        script: Vec<Result<PollStatus, Fatal>>,
        running: &Arc<AtomicUsize>,
        max_running: &Arc<AtomicUsize>,
    ) -> (Box<dyn Pollable>, Arc<Mutex<Vec<tokio::time::Instant>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        (
            Box::new(Scripted {
                name: name.into(),
                script,
                calls: calls.clone(),
                running: running.clone(),
                max_running: max_running.clone(),
                work: Duration::from_secs(1),
            }),
            calls,
        )
    }

    fn schedule() -> Schedule {
        Schedule {
            interval: Duration::from_secs(60),
            jitter: 0.1,
            max_concurrent: 2,
            retry_base: Duration::from_secs(1),
            max_cycles: None,
        }
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let s = schedule();
        let mut rng = rand::rng();
        for _ in 0..1000 {
            let d = s.next_delay(&mut rng).as_secs_f64();
            assert!((54.0..=66.0).contains(&d), "{d}");
        }
    }

    #[test]
    fn retry_delay_doubles_up_to_the_interval() {
        let s = schedule();
        let d: Vec<u64> = (1..=8).map(|a| s.retry_delay(a).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[tokio::test(start_paused = true)]
    async fn polls_on_interval_bounded_and_survives_failures() {
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        let mut calls = Vec::new();
        for i in 0..4 {
            let script = if i == 0 {
                vec![Ok(PollStatus::Failed { retry_soon: false }); 10]
            } else {
                vec![]
            };
            let (t, c) = scripted(&format!("org{i}"), script, &running, &max_running);
            tasks.push(t);
            calls.push(c);
        }
        let shutdown = CancellationToken::new();
        let stopper = shutdown.clone();
        let handle = tokio::spawn(run_forever(tasks, schedule(), shutdown));
        tokio::time::sleep(Duration::from_secs(60 * 5 + 30)).await;
        stopper.cancel();
        handle.await.expect("joined").expect("no fatal");
        assert!(
            max_running.load(Ordering::SeqCst) <= 2,
            "bounded concurrency"
        );
        for c in &calls {
            let c = c.lock().expect("lock");
            // Five and a half intervals with ±10% jitter: 5 or 6 polls, failing or not.
            assert!((5..=7).contains(&c.len()), "{} polls", c.len());
            for w in c.windows(2) {
                let gap = (w[1] - w[0]).as_secs_f64();
                assert!(
                    gap >= 54.0,
                    "cycles of one org never closer than the jittered interval: {gap}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_soon_backs_off_then_resumes_interval() {
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let script = vec![
            Ok(PollStatus::Failed { retry_soon: true }),
            Ok(PollStatus::Failed { retry_soon: true }),
            Ok(PollStatus::Failed { retry_soon: true }),
            Ok(PollStatus::Done),
        ];
        let (t, calls) = scripted("org", script, &running, &max_running);
        let shutdown = CancellationToken::new();
        let stopper = shutdown.clone();
        let handle = tokio::spawn(run_forever(vec![t], schedule(), shutdown));
        tokio::time::sleep(Duration::from_secs(30)).await;
        stopper.cancel();
        handle.await.expect("joined").expect("no fatal");
        let c = calls.lock().expect("lock");
        let gaps: Vec<u64> = c.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
        // Each poll takes 1s of work, then 1s, 2s, 4s of backoff.
        assert_eq!(gaps, [2, 3, 5]);
    }

    #[tokio::test(start_paused = true)]
    async fn max_cycles_ends_each_loop() {
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let (t, calls) = scripted("org", vec![], &running, &max_running);
        let s = Schedule {
            max_cycles: Some(3),
            ..schedule()
        };
        run_forever(vec![t], s, CancellationToken::new())
            .await
            .expect("no fatal");
        assert_eq!(calls.lock().expect("lock").len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_added_at_run_time_polls_and_a_retired_task_ends() {
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let (first, first_calls) = scripted("first", vec![], &running, &max_running);
        let (late, late_calls) = scripted("late", vec![], &running, &max_running);
        let (retired, retired_calls) = scripted(
            "retired",
            vec![
                Ok(PollStatus::Failed { retry_soon: false }),
                Ok(PollStatus::Retired),
            ],
            &running,
            &max_running,
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(run_growing(
            vec![first, retired],
            rx,
            schedule(),
            shutdown.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert_eq!(late_calls.lock().expect("lock").len(), 0);
        tx.send(late).expect("the scheduler takes new tasks");
        tokio::time::sleep(Duration::from_secs(150)).await;
        shutdown.cancel();
        handle.await.expect("joined").expect("no fatal");
        let late_n = late_calls.lock().expect("lock").len();
        assert!(
            (3..=4).contains(&late_n),
            "the late task polls from its arrival: {late_n}"
        );
        assert!(first_calls.lock().expect("lock").len() >= 4);
        assert_eq!(
            retired_calls.lock().expect("lock").len(),
            2,
            "its loop ended"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn run_growing_ends_when_every_task_ended_and_no_more_can_come() {
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let (t, _) = scripted("org", vec![], &running, &max_running);
        let (tx, rx) = mpsc::unbounded_channel::<Box<dyn Pollable>>();
        let s = Schedule {
            max_cycles: Some(2),
            ..schedule()
        };
        let handle = tokio::spawn(run_growing(vec![t], rx, s, CancellationToken::new()));
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(!handle.is_finished(), "new tasks may still come");
        drop(tx);
        handle.await.expect("joined").expect("no fatal");
    }

    #[tokio::test(start_paused = true)]
    async fn fatal_stops_everything() {
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let (a, _) = scripted(
            "fenced",
            vec![
                Ok(PollStatus::Done),
                Err(Fatal::new(std::io::Error::other("fenced"))),
            ],
            &running,
            &max_running,
        );
        let (b, _) = scripted("other", vec![], &running, &max_running);
        let err = run_forever(vec![a, b], schedule(), CancellationToken::new())
            .await
            .expect_err("fatal");
        assert_eq!(err.to_string(), "fenced");
    }

    #[tokio::test(start_paused = true)]
    async fn once_reports_each_org_in_order() {
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let (a, _) = scripted(
            "a",
            vec![Ok(PollStatus::Failed { retry_soon: false })],
            &running,
            &max_running,
        );
        let (b, _) = scripted("b", vec![], &running, &max_running);
        let out = run_once(vec![a, b], 1, CancellationToken::new()).await;
        let out: Vec<(String, Option<PollStatus>)> = out
            .into_iter()
            .map(|(t, r)| (t.name().to_string(), r.ok()))
            .collect();
        assert_eq!(
            out[0],
            ("a".into(), Some(PollStatus::Failed { retry_soon: false }))
        );
        assert_eq!(out[1], ("b".into(), Some(PollStatus::Done)));
        assert_eq!(max_running.load(Ordering::SeqCst), 1);
    }
}
