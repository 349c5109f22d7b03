//! The platform from outside: HTTP through a real listener, the command line
//! through the real binary, several nodes on one database. One test binary.

mod assistance;
mod cli;
mod franceconnect;
mod hostile;
mod http;
pub(crate) mod nodes;
mod oidc;
mod open_data;
mod second_factor;
mod support;
mod usage;
