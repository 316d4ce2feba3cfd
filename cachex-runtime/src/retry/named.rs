//! The process-wide table of named retry policies: "default", "conservative" and "aggressive"
//! from the start, and whatever `set_policy` adds. `#[retry]` functions look their policy up here
//! at call time; the registry reads and writes the same table.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::Policy;
use crate::sync::RwLock;
use crate::Error;

/// Named policies, by name.
#[derive(Debug)]
pub(crate) struct Policies {
    map: RwLock<HashMap<String, Policy>>,
}

static GLOBAL: LazyLock<Policies> = LazyLock::new(|| Policies {
    map: RwLock::new(HashMap::from([
        ("default".to_owned(), Policy::default()),
        ("conservative".to_owned(), Policy::conservative()),
        ("aggressive".to_owned(), Policy::aggressive()),
    ])),
});

/// The process's named policies.
pub(crate) fn global() -> &'static Policies {
    &GLOBAL
}

impl Policies {
    /// The policy called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Policy> {
        self.map.read().get(name).copied()
    }

    /// The table itself, for the test guard.
    pub(crate) fn map(&self) -> &RwLock<HashMap<String, Policy>> {
        &self.map
    }

    /// Every policy with its name, sorted by name.
    pub(crate) fn all(&self) -> Vec<(String, Policy)> {
        let mut all: Vec<_> = self
            .map
            .read()
            .iter()
            .map(|(n, p)| (n.clone(), *p))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Adds or replaces `name`; an invalid policy is stored as the nearest valid one, logged.
    pub(crate) fn set(&self, name: &str, policy: Policy) {
        if let Err(e) = policy.validate() {
            tracing::error!(policy = name, error = %e, "invalid retry policy; using the nearest valid one");
        }
        self.map.write().insert(name.to_owned(), policy.sanitized());
    }

    /// Adds or replaces `name`, refusing an invalid policy.
    pub(crate) fn try_set(&self, name: &str, policy: Policy) -> Result<(), Error> {
        policy.validate()?;
        self.map.write().insert(name.to_owned(), policy);
        Ok(())
    }
}
