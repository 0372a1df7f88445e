//! The Streak API simulator: scenarios, timelines and injected faults, served over HTTP.
