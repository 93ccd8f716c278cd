//! Capability `config`: `wasi:config/store` for the component, the values
//! [`crate::settings::Settings::component_config`] resolved once at start-up.

use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};

use crate::capability::{CallInfo, Capability, Holds};

/// App-wide: the values, shared by every call.
pub struct Config {
    vars: Arc<WasiConfigVariables>,
}

impl Config {
    pub fn new(vars: Vec<(String, String)>) -> Self {
        Self {
            vars: Arc::new(vars.into_iter().collect()),
        }
    }
}

impl Capability for Config {
    type Call = Arc<WasiConfigVariables>;

    fn link<T: Holds<Self>>(linker: &mut Linker<T>) -> anyhow::Result<()> {
        wasmtime_wasi_config::add_to_linker(linker, |s: &mut T| WasiConfig::from(&**s.part().0))?;
        Ok(())
    }

    fn call(&self, _: &CallInfo) -> Self::Call {
        self.vars.clone()
    }
}
