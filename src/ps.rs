//! placeholder until the parser lands
/// A process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    /// uid
    pub uid: u32,
    /// pid
    pub pid: i32,
    /// pgid
    pub pgid: i32,
    /// zombie
    pub zombie: bool,
    /// lstart
    pub start: String,
    /// command
    pub command: String,
}
/// args
pub const ARGS: &[&str] = &["-axww", "-o", "uid=,pid=,pgid=,stat=,lstart=,command="];
/// parse
pub fn parse(_t: &str) -> Result<Vec<Proc>, String> {
    Err("stub".into())
}
/// find
pub fn find(procs: &[Proc], pid: i32) -> Option<&Proc> {
    procs.iter().find(|p| p.pid == pid)
}
/// watcher
pub fn watcher_command(_c: &str) -> Option<(&str, &str)> {
    None
}
/// A watcher
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherProc {
    /// pid
    pub pid: i32,
    /// pgid
    pub pgid: i32,
    /// key
    pub key: String,
    /// artifact
    pub artifact: String,
}
/// watchers
pub fn watchers(_procs: &[Proc], _uid: u32) -> Vec<WatcherProc> {
    Vec::new()
}
