//! A blocking API, for scripts and synchronous code (the way the Python library is used).
//!
//! Like `reqwest::blocking`, each manager owns a small tokio runtime and waits on it; the async
//! manager does the work, with the same behaviour, attempts and errors.
//!
//! ```no_run
//! # fn demo() -> Result<(), llmmanager::Error> {
//! use llmmanager::blocking;
//! use llmmanager::{ConverseRequest, LlmManager};
//!
//! let manager = blocking::LlmManager::build(
//!     LlmManager::builder()
//!         .models(["Claude 3 Haiku", "Nova Lite"])
//!         .regions(["us-east-1", "us-west-2"]),
//! )?;
//! let request = ConverseRequest::builder().user_text("Hello").max_tokens(200).build()?;
//! let response = manager.converse(&request)?;
//! println!("{}", response.text());
//! for event in manager.converse_stream(&request)? {
//!     let _ = event?;
//! }
//! # Ok(()) }
//! # let _ = demo;
//! ```
//!
//! These calls must not be made from inside an async runtime (a blocking wait there would stall
//! it); doing so is a configuration error, not a panic.

use std::sync::Arc;

use futures::StreamExt;

use crate::parallel::{BatchRequest, ParallelResponse};
use crate::{
    CallOptions, ConverseRequest, ConverseStream, Error, LlmManagerBuilder, Response, StreamEvent,
};

fn runtime() -> Result<Arc<tokio::runtime::Runtime>, Error> {
    not_in_runtime()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(Arc::new)
        .map_err(|e| Error::config(format!("starting the blocking runtime failed: {e}")))
}

fn not_in_runtime() -> Result<(), Error> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::config(
            "the blocking API was called from inside an async runtime; use the async LlmManager there",
        ));
    }
    Ok(())
}

/// The blocking twin of [`crate::LlmManager`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LlmManager {
    manager: crate::LlmManager,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl LlmManager {
    /// Builds the manager from an async builder, waiting for it.
    ///
    /// # Errors
    /// As [`LlmManagerBuilder::build`]; [`Error::Configuration`] when called inside an async
    /// runtime.
    pub fn build(builder: LlmManagerBuilder) -> Result<Self, Error> {
        let runtime = runtime()?;
        let manager = runtime.block_on(builder.build())?;
        Ok(Self { manager, runtime })
    }

    /// The async manager underneath (same clients, catalog and target health).
    pub fn manager(&self) -> &crate::LlmManager {
        &self.manager
    }

    /// [`crate::LlmManager::converse`], waiting for the answer.
    ///
    /// # Errors
    /// As [`crate::LlmManager::converse`].
    pub fn converse(&self, request: &ConverseRequest) -> Result<Response, Error> {
        self.converse_with(request, &CallOptions::default())
    }

    /// [`crate::LlmManager::converse_with`], waiting for the answer.
    ///
    /// # Errors
    /// As [`crate::LlmManager::converse_with`].
    pub fn converse_with(
        &self,
        request: &ConverseRequest,
        options: &CallOptions,
    ) -> Result<Response, Error> {
        not_in_runtime()?;
        self.runtime
            .block_on(self.manager.converse_with(request, options))
    }

    /// [`crate::LlmManager::converse_stream`] as an iterator of events, each waited for.
    ///
    /// # Errors
    /// As [`crate::LlmManager::converse_stream`]; failures of the call arrive through the
    /// iterator.
    pub fn converse_stream(&self, request: &ConverseRequest) -> Result<StreamIter, Error> {
        not_in_runtime()?;
        let stream = self
            .runtime
            .block_on(self.manager.converse_stream(request))?;
        Ok(StreamIter {
            stream,
            runtime: Arc::clone(&self.runtime),
        })
    }

    /// Runs a batch through a [`crate::ParallelLlmManager`] over this manager, waiting for every
    /// outcome.
    ///
    /// # Errors
    /// As [`crate::ParallelLlmManager::converse_parallel`].
    pub fn converse_parallel(
        &self,
        config: crate::parallel::ParallelConfig,
        requests: Vec<BatchRequest<ConverseRequest>>,
    ) -> Result<ParallelResponse<Response, Error>, Error> {
        not_in_runtime()?;
        let parallel = crate::ParallelLlmManager::new(self.manager.clone(), config)?;
        self.runtime.block_on(parallel.converse_parallel(requests))
    }
}

/// The events of a managed stream, each waited for; see [`crate::ConverseStream`].
#[derive(Debug)]
pub struct StreamIter {
    stream: ConverseStream,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Iterator for StreamIter {
    type Item = Result<StreamEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = not_in_runtime() {
            return Some(Err(e));
        }
        self.runtime.block_on(self.stream.next())
    }
}
