//! The steps of a stopping director, as they run: what each stop step is, when it began
//! and whether it ended. The runtime bounds the whole stop sequence (`[ctl]
//! shutdown_timeout`) and, when the bound passes, names from here every step still
//! running, one line each, as abandoned.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One step of the stop sequence.
#[derive(Clone, Debug)]
struct Step {
    what: String,
    began: Instant,
    ended: bool,
}

/// The stop steps so far, shared by whoever runs them and whoever watches the bound.
#[derive(Clone, Debug, Default)]
pub struct StopLog(Arc<Mutex<Vec<Step>>>);

impl StopLog {
    /// Run `f` as the step `what`.
    pub fn step<T>(&self, what: impl Into<String>, f: impl FnOnce() -> T) -> T {
        let index = {
            let mut steps = self.lock();
            steps.push(Step {
                what: what.into(),
                began: Instant::now(),
                ended: false,
            });
            steps.len() - 1
        };
        let out = f();
        self.lock()[index].ended = true;
        out
    }

    /// True while no step has begun.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The steps begun and not ended, with how long each has run.
    pub fn unfinished(&self) -> Vec<(String, Duration)> {
        self.lock()
            .iter()
            .filter(|s| !s.ended)
            .map(|s| (s.what.clone(), s.began.elapsed()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Step>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_unfinished_until_it_returns() {
        let log = StopLog::default();
        assert!(log.is_empty());
        let seen = log.step("outer", || {
            log.step("inner", || ());
            log.unfinished()
        });
        let names: Vec<_> = seen.into_iter().map(|(w, _)| w).collect();
        assert_eq!(names, ["outer"]);
        assert!(log.unfinished().is_empty());
    }
}
