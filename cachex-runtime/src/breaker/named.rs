//! The process-wide table of named breakers: every breaker a `#[circuit_breaker]` declares (from
//! the start, with its declared configuration), and every one asked for by name since. The
//! registry, the generated code and the stores all reach named breakers here, so none of them
//! needs the registry.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use super::decl::{BreakerDecl, BREAKERS};
use super::keyed::KeyedGroup;
use super::{BreakerConfig, CircuitBreaker};
use crate::sync::RwLock;

/// Named breakers, by name.
#[derive(Debug)]
pub(crate) struct Breakers {
    map: RwLock<HashMap<String, Arc<CircuitBreaker>>>,
    /// Keyed declarations (`key = ..`) by name: their breakers are `"<name>/<key>"`.
    keyed: RwLock<HashMap<String, Arc<KeyedGroup>>>,
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
        let mut keyed = HashMap::new();
        for decl in declared.iter().filter(|d| d.keyed) {
            let name = decl.registry_name();
            keyed
                .entry(name.to_string())
                .or_insert_with(|| Arc::new(KeyedGroup::new(&name, decl.config)));
        }
        for decl in declared.iter().filter(|d| !d.keyed) {
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
            keyed: RwLock::new(keyed),
        }
    }

    /// The breaker called `name`, created with the default configuration on first use.
    pub(crate) fn get(&self, name: &str) -> Arc<CircuitBreaker> {
        if let Some(b) = self.map.read().get(name) {
            return Arc::clone(b);
        }
        if let Some(b) = self.keyed_breaker(name) {
            return b;
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
        for group in self.keyed.read().values() {
            all.extend(group.breakers());
        }
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Sets the configuration of `name`: in place if it exists, else for a new breaker.
    pub(crate) fn configure(&self, name: &str, config: BreakerConfig) {
        if !self.map.read().contains_key(name) {
            if let Some(keyed) = self.keyed_breaker(name) {
                return keyed.set_config(config);
            }
        }
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

    /// `"<name>/<key>"` of a keyed declaration `name`: its breaker for `key` (made with the
    /// declaration's configuration if the key has none yet).
    fn keyed_breaker(&self, full: &str) -> Option<Arc<CircuitBreaker>> {
        let groups = self.keyed.read();
        if groups.is_empty() {
            return None;
        }
        // The declared name may itself hold '/': try every split, longest name first.
        for (i, _) in full.rmatch_indices('/') {
            let (Some(name), Some(key)) = (full.get(..i), full.get(i.saturating_add(1)..)) else {
                continue;
            };
            if let Some(group) = groups.get(name) {
                let mut bounded = String::new();
                super::keyed::bounded_key(key, &mut bounded);
                return Some(group.get_bounded(&bounded));
            }
        }
        None
    }

    /// The group of keyed breakers declared as `name` (made with `config`, or the default,
    /// when no declaration was found at start-up).
    pub(crate) fn keyed_group(&self, name: &str, config: Option<BreakerConfig>) -> Arc<KeyedGroup> {
        if let Some(g) = self.keyed.read().get(name) {
            return Arc::clone(g);
        }
        Arc::clone(
            self.keyed
                .write()
                .entry(name.to_owned())
                .or_insert_with(|| Arc::new(KeyedGroup::new(name, config.unwrap_or_default()))),
        )
    }
}
