//! macOS's half of the platform layer: one kqueue for events, and the
//! per-process facts from `sysctl` and `proc_pidinfo`. `linux.rs` has the
//! same functions where the concept exists on both, so callers never see
//! which. There is no Mac here: what is inferred from Apple's headers, man
//! pages or the xnu sources, rather than seen, says so.
//!
//! Invariant: a process that is gone is `ESRCH` (sysctl reports a missing
//! pid as success with nothing written), so callers test one code.
//! Structures libc lacks are copied from Apple's headers, and their sizes
//! and offsets are checked when compiling.

use super::check;
use super::parse::{self, ProcStat};
use std::ffi::{c_int, c_void, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};

/// A new kqueue, close-on-exec. A kqueue descriptor can itself be waited
/// on with `poll()` (readable while events are pending): inferred from xnu,
/// whose kqueue file operations implement `EVFILT_READ`, on which its
/// `poll()` is built.
pub fn kqueue() -> io::Result<OwnedFd> {
    // SAFETY: kqueue takes no arguments and returns a new descriptor or -1.
    let fd = check(unsafe { libc::kqueue() })?;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    super::set_cloexec(fd.as_fd())?;
    Ok(fd)
}

const NO_WAIT: libc::timespec = libc::timespec { tv_sec: 0, tv_nsec: 0 };

fn change(kq: BorrowedFd, ident: usize, filter: i16, flags: u16, fflags: u32) -> io::Result<()> {
    let change = libc::kevent { ident, filter, flags, fflags, data: 0, udata: null_mut() };
    // SAFETY: one valid change and no event list, so a failed change comes
    // back as -1 and errno; the zero timeout means the call never waits.
    check(unsafe { libc::kevent(kq.as_raw_fd(), &change, 1, null_mut(), 0, &NO_WAIT) }).map(drop)
}

/// Asks `kq` to report when process `pid` exits (`EVFILT_PROC`,
/// `NOTE_EXIT`); the kernel drops the filter once it fired. `ESRCH`: no
/// such process. It says nothing about who `pid` is: confirm that after.
pub fn kevent_watch_pid(kq: BorrowedFd, pid: i32) -> io::Result<()> {
    change(kq, pid as usize, libc::EVFILT_PROC, libc::EV_ADD, libc::NOTE_EXIT)
}

/// Stops reporting process `pid` (`ENOENT` once its exit was reported).
pub fn kevent_forget_pid(kq: BorrowedFd, pid: i32) -> io::Result<()> {
    change(kq, pid as usize, libc::EVFILT_PROC, libc::EV_DELETE, 0)
}

/// Asks `kq` to report the `NOTE_*` changes in `fflags` to the file or
/// folder open as `fd` (`EVFILT_VNODE`, cleared once reported). Closing
/// `fd` removes it.
pub fn kevent_watch_vnode(kq: BorrowedFd, fd: BorrowedFd, fflags: u32) -> io::Result<()> {
    let ident = fd.as_raw_fd() as usize;
    change(kq, ident, libc::EVFILT_VNODE, libc::EV_ADD | libc::EV_CLEAR, fflags)
}

/// Opens `path` for event notification only (`O_EVTONLY`: it never keeps a
/// volume from being unmounted); `dir`: fail with `ENOTDIR` unless a folder.
pub fn open_evtonly(path: &Path, dir: bool) -> io::Result<OwnedFd> {
    let flags = libc::O_EVTONLY | if dir { libc::O_DIRECTORY } else { 0 };
    Ok(OpenOptions::new().read(true).custom_flags(flags).open(path)?.into())
}

/// Appends `(filter, ident)` of every event pending in `kq`, without waiting.
pub fn kevent_drain(kq: BorrowedFd, out: &mut Vec<(i16, usize)>) -> io::Result<()> {
    let empty =
        libc::kevent { ident: 0, filter: 0, flags: 0, fflags: 0, data: 0, udata: null_mut() };
    let mut events = [empty; 32];
    loop {
        let (fd, buf) = (kq.as_raw_fd(), events.as_mut_ptr());
        // SAFETY: buf is valid for writes of its 32 structures; no
        // changes; the zero timeout means the call never waits.
        let n = unsafe { libc::kevent(fd, null(), 0, buf, 32, &NO_WAIT) };
        let n = match check(n) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            n => n? as usize,
        };
        out.extend(events[..n].iter().map(|e| (e.filter, e.ident)));
        if n < events.len() {
            return Ok(());
        }
    }
}

/// `struct kinfo_proc` of `<sys/sysctl.h>`, which libc lacks, with
/// `struct extern_proc` (`<sys/proc.h>`), `struct eproc`, `struct _pcred`,
/// `struct _ucred` (`<sys/sysctl.h>`) and `struct vmspace` (`<sys/vm.h>`),
/// field by field. Kernel pointers are plain integers here; `p_starttime`
/// shares a 16-byte union with two pointers. Read: start, stat, ppid, uid.
#[repr(C)]
#[derive(Clone, Copy)]
struct KinfoProc {
    kp_proc: ExternProc,
    kp_eproc: Eproc,
}

#[rustfmt::skip]
#[repr(C)]
#[derive(Clone, Copy)]
struct ExternProc {
    p_starttime: libc::timeval,
    p_vmspace: usize, p_sigacts: usize, p_flag: c_int, p_stat: libc::c_char,
    p_pid: libc::pid_t, p_oppid: libc::pid_t, p_dupfd: c_int,
    user_stack: usize, exit_thread: usize, p_debugger: c_int, sigwait: c_int,
    p_estcpu: u32, p_cpticks: c_int, p_pctcpu: u32, p_wchan: usize, p_wmesg: usize,
    p_swtime: u32, p_slptime: u32, p_realtimer: libc::itimerval, p_rtime: libc::timeval,
    p_uticks: u64, p_sticks: u64, p_iticks: u64,
    p_traceflag: c_int, p_tracep: usize, p_siglist: c_int, p_textvp: usize, p_holdcnt: c_int,
    p_sigmask: u32, p_sigignore: u32, p_sigcatch: u32,
    p_priority: u8, p_usrpri: u8, p_nice: libc::c_char, p_comm: [libc::c_char; 17],
    p_pgrp: usize, p_addr: usize, p_xstat: u16, p_acflag: u16, p_ru: usize,
}

#[rustfmt::skip]
#[repr(C)]
#[derive(Clone, Copy)]
struct Eproc {
    e_paddr: usize, e_sess: usize,
    e_pcred: Pcred,
    cr_ref: i32, cr_uid: libc::uid_t, cr_ngroups: i16, cr_groups: [libc::gid_t; 16], // _ucred
    e_vm: [usize; 8], // struct vmspace: int, pointer, int[5], pointer[3]
    e_ppid: libc::pid_t, e_pgid: libc::pid_t, e_jobc: i16, e_tdev: i32, e_tpgid: libc::pid_t,
    e_tsess: usize, e_wmesg: [libc::c_char; 8], e_xsize: i32,
    e_xrssize: i16, e_xccount: i16, e_xswrss: i16, e_flag: i32,
    e_login: [libc::c_char; 12], e_spare: [i32; 4],
}

/// `struct _pcred`: nested, as its pointer pads it to 104 bytes.
#[rustfmt::skip]
#[repr(C)]
#[derive(Clone, Copy)]
struct Pcred {
    pc_lock: [libc::c_char; 72], pc_ucred: usize,
    p_ruid: u32, p_svuid: u32, p_rgid: u32, p_svgid: u32, p_refcnt: c_int,
}

// The sizes and offsets of the 64-bit layout (also what Go's x/sys/unix
// generates from the same headers: SizeofKinfoProc = 0x288).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<ExternProc>() == 296);
    assert!(size_of::<Eproc>() == 352);
    assert!(size_of::<KinfoProc>() == 648);
    assert!(offset_of!(ExternProc, p_stat) == 36);
    assert!(offset_of!(Eproc, cr_ref) == 120);
    assert!(offset_of!(Eproc, e_vm) == 200);
    assert!(offset_of!(Eproc, e_ppid) == 264);
    assert!(offset_of!(Eproc, e_tsess) == 288);
};

/// `SZOMB` of `<sys/proc.h>`: exited, not yet reaped.
const SZOMB: libc::c_char = 5;

fn sysctl(mib: &mut [c_int], buf: &mut [u8]) -> io::Result<usize> {
    let (mut len, name, names) = (buf.len(), mib.as_mut_ptr(), mib.len() as u32);
    // SAFETY: buf is valid for writes of len bytes and name points at
    // names integers; nothing is set (no new value).
    check(unsafe { libc::sysctl(name, names, buf.as_mut_ptr().cast(), &mut len, null_mut(), 0) })?;
    Ok(len)
}

fn sysctl_int(mib: &mut [c_int]) -> io::Result<c_int> {
    let mut buf = [0u8; size_of::<c_int>()];
    match sysctl(mib, &mut buf)? {
        4 => Ok(c_int::from_ne_bytes(buf)),
        n => Err(io::Error::new(io::ErrorKind::InvalidData, format!("sysctl {mib:?}: {n} bytes"))),
    }
}

/// Parent, effective uid, start second and zombie state of process `pid`
/// (`sysctl(KERN_PROC_PID)`, which works for every user's processes).
pub fn proc_stat(pid: i32) -> io::Result<ProcStat> {
    let mut buf = [0u8; size_of::<KinfoProc>()];
    match sysctl(&mut [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, pid], &mut buf)? {
        0 => return Err(io::Error::from_raw_os_error(libc::ESRCH)),
        n if n != buf.len() => return Err(short(pid, "kinfo_proc", n)),
        _ => {}
    }
    // SAFETY: buf holds exactly one KinfoProc, written by the kernel;
    // every field is an integer or an array of them, so any bytes are valid,
    // and read_unaligned needs no alignment.
    let info: KinfoProc = unsafe { buf.as_ptr().cast::<KinfoProc>().read_unaligned() };
    Ok(ProcStat {
        ppid: info.kp_eproc.e_ppid,
        uid: info.kp_eproc.cr_uid,
        start: u64::try_from(info.kp_proc.p_starttime.tv_sec).unwrap_or(0),
        zombie: info.kp_proc.p_stat == SZOMB,
    })
}

/// The Unix second at which a process whose `ProcStat::start` is `start`
/// began: on macOS that is already the second (`p_starttime`), which `ps -o
/// lstart` prints.
pub fn start_secs(start: u64) -> io::Result<u64> {
    Ok(start)
}

fn short(pid: i32, what: &str, n: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what} of process {pid}: {n} bytes"))
}

/// Why a `proc_pidinfo` call returned 0 (libproc turns its -1 into 0, with
/// errno set); a process gone between calls may leave errno unset.
fn pidinfo_error() -> io::Error {
    match io::Error::last_os_error() {
        e if e.raw_os_error() == Some(0) => io::Error::from_raw_os_error(libc::ESRCH),
        e => e,
    }
}

/// The NUL-terminated path in a `vip_path` (libc splits its
/// `char[MAXPATHLEN]` into 32 rows of 32).
fn c_path(chars: &[[libc::c_char; 32]; 32]) -> PathBuf {
    let bytes = chars.iter().flatten().map(|&c| c as u8).take_while(|&b| b != 0).collect();
    PathBuf::from(OsString::from_vec(bytes))
}

/// The working folder of process `pid` (`PROC_PIDVNODEPATHINFO`).
pub fn proc_cwd(pid: i32) -> io::Result<PathBuf> {
    // SAFETY: proc_vnodepathinfo holds only integers and char arrays, for
    // which all-zero bytes are valid.
    let mut info: libc::proc_vnodepathinfo = unsafe { std::mem::zeroed() };
    let size = size_of::<libc::proc_vnodepathinfo>() as c_int;
    let ptr = (&mut info as *mut libc::proc_vnodepathinfo).cast::<c_void>();
    // SAFETY: ptr is valid for writes of size bytes for the whole call.
    match unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDVNODEPATHINFO, 0, ptr, size) } {
        n if n == size => Ok(c_path(&info.pvi_cdir.vip_path)),
        n if n <= 0 => Err(pidinfo_error()),
        n => Err(short(pid, "proc_vnodepathinfo", n as usize)),
    }
}

/// The `KERN_PROCARGS2` buffer of process `pid` (its own user's or root's;
/// the kernel says `EINVAL` for others and for zombies).
fn procargs(pid: i32) -> io::Result<Vec<u8>> {
    let max = sysctl_int(&mut [libc::CTL_KERN, libc::KERN_ARGMAX])?;
    let mut buf = vec![0u8; usize::try_from(max).unwrap_or(0)];
    let n = sysctl(&mut [libc::CTL_KERN, libc::KERN_PROCARGS2, pid], &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// `procargs2` of the `KERN_PROCARGS2` buffer `buf` of process `pid`.
fn parse_procargs(pid: i32, buf: &[u8]) -> io::Result<parse::ProcArgs<'_>> {
    let msg = || format!("KERN_PROCARGS2 of process {pid}: unexpected format");
    parse::procargs2(buf).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, msg()))
}

/// The arguments of process `pid` as it now shows them (a process may
/// rewrite them; empty while it is still inside exec); bytes that are not
/// UTF-8 become U+FFFD.
pub fn proc_argv(pid: i32) -> io::Result<Vec<String>> {
    let buf = procargs(pid)?;
    let args = parse_procargs(pid, &buf)?;
    Ok(args.argv.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
}

/// The value of `name` in the environment process `pid` was started with;
/// `InvalidData` when it is not UTF-8.
pub fn proc_env_var(pid: i32, name: &str) -> io::Result<Option<String>> {
    let buf = procargs(pid)?;
    let args = parse_procargs(pid, &buf)?;
    let not_utf8 = || {
        io::Error::new(io::ErrorKind::InvalidData, format!("{name} of process {pid} is not UTF-8"))
    };
    let value = parse::env_value(&args.env, name);
    value.map(|v| String::from_utf8(v.to_vec()).map_err(|_| not_utf8())).transpose()
}

/// `struct vnode_fdinfowithpath` of `<sys/proc_info.h>` (libc lacks it),
/// with its `struct proc_fileinfo pfi` folded in.
#[rustfmt::skip]
#[repr(C)]
struct VnodeFdInfoWithPath {
    fi_openflags: u32, fi_status: u32, fi_offset: libc::off_t, fi_type: i32, fi_guardflags: u32,
    pvip: libc::vnode_info_path,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<VnodeFdInfoWithPath>() == 24 + 1176);

/// `PROC_PIDFDVNODEPATHINFO` of `<sys/proc_info.h>`, which libc lacks.
const PROC_PIDFDVNODEPATHINFO: c_int = 2;

/// The files and folders process `pid` holds open (`PROC_PIDLISTFDS`, then
/// `PROC_PIDFDVNODEPATHINFO` for each vnode; sockets, pipes and the like
/// are left out, and so is a descriptor closed meanwhile).
pub fn proc_open_files(pid: i32) -> io::Result<Vec<PathBuf>> {
    let entry = size_of::<libc::proc_fdinfo>();
    // SAFETY: a null buffer of size 0 only asks for the size needed.
    let need = unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, null_mut(), 0) };
    if need <= 0 {
        return Err(pidinfo_error());
    }
    // Room for a few descriptors opened between the two calls.
    let mut fds =
        vec![libc::proc_fdinfo { proc_fd: 0, proc_fdtype: 0 }; need as usize / entry + 16];
    let size = (fds.len() * entry) as c_int;
    let out = fds.as_mut_ptr().cast();
    // SAFETY: out is valid for writes of size bytes for the whole call.
    let got = unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, out, size) };
    if got <= 0 {
        return Err(pidinfo_error());
    }
    fds.truncate(got as usize / entry);
    let vnodes = fds.iter().filter(|f| f.proc_fdtype == libc::PROX_FDTYPE_VNODE as u32);
    Ok(vnodes.filter_map(|f| fd_path(pid, f.proc_fd)).collect())
}

fn fd_path(pid: i32, fd: i32) -> Option<PathBuf> {
    // SAFETY: the structure holds only integers and char arrays, for which
    // all-zero bytes are valid.
    let mut info: VnodeFdInfoWithPath = unsafe { std::mem::zeroed() };
    let size = size_of::<VnodeFdInfoWithPath>() as c_int;
    let ptr = (&mut info as *mut VnodeFdInfoWithPath).cast::<c_void>();
    // SAFETY: ptr is valid for writes of size bytes for the whole call.
    let n = unsafe { libc::proc_pidfdinfo(pid, fd, PROC_PIDFDVNODEPATHINFO, ptr, size) };
    (n == size).then(|| c_path(&info.pvip.vip_path))
}

/// `OPEN_MAX` of `<sys/syslimits.h>`: Apple's setrlimit(2) refuses a soft
/// `RLIMIT_NOFILE` of `RLIM_INFINITY` and says to use
/// `min(OPEN_MAX, rlim_max)`; xnu also refuses more than
/// `kern.maxfilesperproc`.
const OPEN_MAX: u64 = 10240;

/// Raises the soft `RLIMIT_NOFILE` to the hard one, capped at `OPEN_MAX`
/// and `kern.maxfilesperproc` as Apple documents; returns the soft limit
/// now in force.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = super::nofile_limit()?;
    let per_process = sysctl_int(&mut [libc::CTL_KERN, libc::KERN_MAXFILESPERPROC]);
    let cap = per_process.map_or(OPEN_MAX, |n| u64::try_from(n).unwrap_or(0).min(OPEN_MAX));
    let want = lim.rlim_max.min(cap);
    if lim.rlim_cur < want {
        lim.rlim_cur = want;
        // SAFETY: lim is a valid rlimit structure that outlives the call.
        check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    }
    Ok(super::nofile_limit()?.rlim_cur)
}

/// Makes the entries of folder `path` durable (after a rename into it):
/// a plain `fsync`, as std's `sync_all` would be `F_FULLFSYNC` here.
pub fn fsync_dir(path: &Path) -> io::Result<()> {
    let dir = File::open(path)?;
    // SAFETY: dir is an open descriptor for the whole call.
    check(unsafe { libc::fsync(dir.as_raw_fd()) }).map(drop)
}

/// Makes `file`'s data durable on the disk itself (`F_FULLFSYNC`, which
/// also flushes the drive's cache; plain `fsync` does not on macOS). SMB
/// and other network file systems refuse it (`ENOTSUP`, `EINVAL`,
/// `ENOTTY`): then `fsync`, the best they offer.
pub fn full_fsync(file: &File) -> io::Result<()> {
    // SAFETY: file is an open descriptor; F_FULLFSYNC takes no argument.
    match check(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_FULLFSYNC) }) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::EINVAL | libc::ENOTTY)) => {
            // SAFETY: as above.
            check(unsafe { libc::fsync(file.as_raw_fd()) }).map(drop)
        }
        result => result.map(drop),
    }
}
