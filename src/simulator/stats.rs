//! What the simulator counts (requests by scope and status, injected faults, applied
//! changes) and the internal events that log an occurrence and count it in one call.
//! Plain counters: no I/O, no clock.

use std::collections::HashMap;

use super::model::Endpoint;

/// Counters of what the simulator received and did, for tests and logs.
#[derive(Debug, Clone, Default)]
pub struct SimStats {
    total: u64,
    by_endpoint: HashMap<Endpoint, u64>,
    by_org: HashMap<String, u64>,
    by_org_endpoint: HashMap<(String, Endpoint), u64>,
    by_status: HashMap<u16, u64>,
    faults: HashMap<&'static str, u64>,
    changes_applied: u64,
}

impl SimStats {
    /// Counts one request in every scope and returns its number in each.
    pub(crate) fn count(&mut self, endpoint: Endpoint, org: Option<&str>) -> Numbers {
        self.total += 1;
        let by_endpoint = self.by_endpoint.entry(endpoint).or_default();
        *by_endpoint += 1;
        let mut numbers = Numbers {
            total: self.total,
            endpoint: *by_endpoint,
            org: 0,
            org_endpoint: 0,
        };
        if let Some(org) = org {
            let o = self.by_org.entry(org.to_owned()).or_default();
            *o += 1;
            numbers.org = *o;
            let oe = self
                .by_org_endpoint
                .entry((org.to_owned(), endpoint))
                .or_default();
            *oe += 1;
            numbers.org_endpoint = *oe;
        }
        numbers
    }

    pub(crate) fn record_status(&mut self, status: u16) {
        *self.by_status.entry(status).or_default() += 1;
    }

    /// Requests received, all endpoints.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Requests received on one endpoint, all organizations (and unknown keys).
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        self.by_endpoint.get(&endpoint).copied().unwrap_or(0)
    }

    /// Requests about one organization, all endpoints.
    pub fn org_total(&self, org: &str) -> u64 {
        self.by_org.get(org).copied().unwrap_or(0)
    }

    /// Requests about one organization on one endpoint.
    pub fn org_requests(&self, org: &str, endpoint: Endpoint) -> u64 {
        self.by_org_endpoint
            .get(&(org.to_owned(), endpoint))
            .copied()
            .unwrap_or(0)
    }

    /// Responses sent with this status code.
    pub fn responses(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Times a fault of this kind (its scenario name, e.g. `http_error`) was injected.
    pub fn faults_injected(&self, kind: &str) -> u64 {
        self.faults.get(kind).copied().unwrap_or(0)
    }

    /// Timeline and test changes applied so far.
    pub fn changes_applied(&self) -> u64 {
        self.changes_applied
    }
}

/// The number of the current request in each counting scope.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Numbers {
    total: u64,
    endpoint: u64,
    org: u64,
    org_endpoint: u64,
}

impl Numbers {
    pub(crate) fn for_scope(&self, by_org: bool, by_endpoint: bool) -> u64 {
        match (by_org, by_endpoint) {
            (true, true) => self.org_endpoint,
            (true, false) => self.org,
            (false, true) => self.endpoint,
            (false, false) => self.total,
        }
    }
}

/// Internal event: a timeline or test change was applied.
pub(crate) struct ChangeApplied<'a> {
    pub(crate) org: &'a str,
    pub(crate) action: &'static str,
    pub(crate) member: Option<&'a str>,
    pub(crate) source: &'static str,
}

impl ChangeApplied<'_> {
    pub(crate) fn emit(self, stats: &mut SimStats) {
        stats.changes_applied += 1;
        tracing::info!(
            org = self.org,
            action = self.action,
            member = self.member,
            source = self.source,
            "Simulated change applied"
        );
    }
}

/// Internal event: a fault was injected into a response.
pub(crate) struct FaultInjected<'a> {
    pub(crate) kind: &'static str,
    pub(crate) org: Option<&'a str>,
    pub(crate) endpoint: Endpoint,
    pub(crate) request: u64,
}

impl FaultInjected<'_> {
    pub(crate) fn emit(self, stats: &mut SimStats) {
        *stats.faults.entry(self.kind).or_default() += 1;
        tracing::debug!(
            kind = self.kind,
            org = self.org,
            endpoint = self.endpoint.as_str(),
            request = self.request,
            "Fault injected"
        );
    }
}
