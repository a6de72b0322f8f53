//! The one integration test binary: drives the real client and the real `crmsync` binary
//! against the stateful fakes from `crmsync::fake`, started on 127.0.0.1:0.

mod cli;
mod crash;
mod inbox;
mod pull;
mod support;
mod sync;
