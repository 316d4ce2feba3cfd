//! The process-wide table of named breakers: every breaker a `#[circuit_breaker]` declares (from
//! the start, with its declared configuration), and every one asked for by name since. The
//! registry, the generated code and the stores all reach named breakers here, so none of them
//! needs the registry.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use super::decl::{BreakerDecl, BREAKERS};
use super::{BreakerConfig, CircuitBreaker};
use crate::sync::RwLock;

/// Named breakers, by name.
#[derive(Debug)]
pub(crate) struct Breakers {
    map: RwLock<HashMap<String, Arc<CircuitBreaker>>>,
}

static GLOBAL: LazyLock<Breakers> = LazyLock::new(Breakers::declared);

/// The process's named breakers.
pub(crate) fn global() -> &'static Breakers {
    &GLOBAL
}

/// A name kept for the rest of the process: named breakers are never removed, so their names
/// are leaked once (one allocation per distinct name) and rejections borrow them.
fn process_name(name: &str) -> Cow<'static, str> {
    Cow::Borrowed(Box::leak(name.to_owned().into_boxed_str()))
}

impl Breakers {
    /// The table with every declared breaker in it.
    fn declared() -> Self {
        let declared: &'static [BreakerDecl] = &BREAKERS;
        crate::decl_names::report_collisions(declared, "breaker", "circuit_breaker");
        let mut breakers: HashMap<String, Arc<CircuitBreaker>> = HashMap::new();
        for decl in declared {
            // A name kept apart from a colliding default ("<name>#2") lives as long as the
            // declared ones: leaked once, so rejections borrow it.
            let name: Cow<'static, str> = match decl.registry_name() {
                Cow::Borrowed(name) => Cow::Borrowed(name),
                Cow::Owned(name) => process_name(&name),
            };
            match breakers.get(&*name) {
                None => {
                    breakers.insert(
                        name.to_string(),
                        Arc::new(CircuitBreaker::named(name, decl.config)),
                    );
                }
                Some(existing) => {
                    if existing.config() != decl.config {
                        tracing::warn!(
                            breaker = decl.name,
                            "functions declare the breaker with different configurations; the first one found is used"
                        );
                    }
                }
            }
        }
        Breakers {
            map: RwLock::new(breakers),
        }
    }

    /// The breaker called `name`, created with the default configuration on first use.
    pub(crate) fn get(&self, name: &str) -> Arc<CircuitBreaker> {
        if let Some(b) = self.map.read().get(name) {
            return Arc::clone(b);
        }
        Arc::clone(self.map.write().entry(name.to_owned()).or_insert_with(|| {
            Arc::new(CircuitBreaker::named(
                process_name(name),
                BreakerConfig::default(),
            ))
        }))
    }

    /// The table itself, for the registry's snapshot and the test guard.
    pub(crate) fn map(&self) -> &RwLock<HashMap<String, Arc<CircuitBreaker>>> {
        &self.map
    }

    /// Every breaker, sorted by name.
    pub(crate) fn all(&self) -> Vec<Arc<CircuitBreaker>> {
        let mut all: Vec<_> = self.map.read().values().cloned().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Sets the configuration of `name`: in place if it exists, else for a new breaker.
    pub(crate) fn configure(&self, name: &str, config: BreakerConfig) {
        let mut map = self.map.write();
        match map.get(name) {
            Some(b) => b.set_config(config),
            None => {
                map.insert(
                    name.to_owned(),
                    Arc::new(CircuitBreaker::named(process_name(name), config)),
                );
            }
        }
    }
}
