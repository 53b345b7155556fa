//! `/late?ms=N`: a new port that refuses connections (bound, not listening: the kernel
//! answers a connect with RST) for N milliseconds, then serves exactly like the plain
//! HTTP port. Tests use it for "the server is down, then it comes up".

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::FromRawFd;
use std::time::Duration;

use crate::handler::{Ctx, accept_loop};

/// Bind the port now, listen on it after `ms`; returns the port.
pub fn open(ctx: &Ctx, ms: u64) -> io::Result<u16> {
    let me = ctx
        .me
        .get()
        .and_then(std::sync::Weak::upgrade)
        .ok_or_else(|| io::Error::other("no context"))?;
    let (fd, port) = bind_only(ctx.late_bind)?;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        // SAFETY: listen on the socket we bound; from then on it is owned by the
        // listener.
        if unsafe { libc::listen(fd, 128) } != 0 {
            unsafe { libc::close(fd) };
            return;
        }
        let listener = unsafe { TcpListener::from_raw_fd(fd) };
        accept_loop(listener, me, None);
    });
    Ok(port)
}

fn bind_only(ip: Ipv4Addr) -> io::Result<(i32, u16)> {
    // SAFETY: plain socket calls on a descriptor we create and own; the address
    // structs are fully initialised.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = 0;
        addr.sin_addr.s_addr = u32::from_ne_bytes(ip.octets());
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len) != 0 {
            let e = io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        let mut got: libc::sockaddr_in = std::mem::zeroed();
        let mut glen = len;
        if libc::getsockname(fd, &mut got as *mut _ as *mut libc::sockaddr, &mut glen) != 0 {
            let e = io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        Ok((fd, u16::from_be(got.sin_port)))
    }
}
