//! The `mutualis` binary's library: command line, composition of the areas'
//! routers, the platform's own pages, demo data.

pub mod app;
pub mod cli;
pub mod demo;
pub mod pages;
