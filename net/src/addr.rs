//! Socket addresses: conversion to and from the C `sockaddr` structures,
//! and [`ToSocketAddrs`], which resolves names without blocking the loop.

use std::future::Future;
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::pin::Pin;
use std::task::{Context, Poll};

use runtime::JoinHandle;

/// A `sockaddr_storage` and the length of the address in it.
pub(crate) struct RawAddr {
    pub(crate) storage: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
}

impl RawAddr {
    /// Zeroed storage for the kernel to fill (accept, getsockname).
    pub(crate) fn empty() -> RawAddr {
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        RawAddr { storage: unsafe { mem::zeroed() }, len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t }
    }

    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.storage as *mut libc::sockaddr_storage).cast()
    }

    /// The address family the storage holds (`AF_UNSPEC` while empty).
    pub(crate) fn family(&self) -> libc::c_int {
        libc::c_int::from(self.storage.ss_family)
    }

    /// The storage viewed as a Unix socket address; meaningful when
    /// [`RawAddr::family`] is `AF_UNIX`, but any bytes are a valid value.
    pub(crate) fn unix(&self) -> &libc::sockaddr_un {
        // SAFETY: sockaddr_storage is at least as large and as aligned as
        // sockaddr_un (checked below at compile time), and both are plain data.
        unsafe { &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_un>() }
    }

    /// The storage viewed as a Unix socket address, for filling in.
    pub(crate) fn unix_mut(&mut self) -> &mut libc::sockaddr_un {
        // SAFETY: as for `unix`; the exclusive borrow of `self` makes this the only view.
        unsafe { &mut *(&mut self.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_un>() }
    }

    pub(crate) fn from_std(addr: &SocketAddr) -> RawAddr {
        let mut raw = RawAddr::empty();
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr type.
                let sin =
                    unsafe { &mut *(&mut raw.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) };
                raw.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                // SAFETY: as above.
                let sin6 =
                    unsafe { &mut *(&mut raw.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
                sin6.sin6_scope_id = a.scope_id();
                raw.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        // The BSDs' `sa_len` byte stays zero: their kernels set it from the length argument.
        raw
    }

    pub(crate) fn to_std(&self) -> io::Result<SocketAddr> {
        match i32::from(self.storage.ss_family) {
            libc::AF_INET if self.len as usize >= mem::size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in, and it is long enough.
                let sin = unsafe { &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Ok(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 if self.len as usize >= mem::size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe { &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            family => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported address family {family} (length {})", self.len),
            )),
        }
    }
}

const _: () = assert!(
    mem::size_of::<libc::sockaddr_un>() <= mem::size_of::<libc::sockaddr_storage>()
        && mem::align_of::<libc::sockaddr_un>() <= mem::align_of::<libc::sockaddr_storage>()
);

/// Addresses that `bind` and `connect` accept: socket addresses, `(ip, port)`
/// pairs, and `"host:port"` strings (or `(host, port)` pairs).
///
/// Literal addresses resolve at once; host names resolve on the runtime's
/// blocking pool ([`runtime::spawn_blocking`]) so a slow resolver never stalls the event loop.
pub trait ToSocketAddrs {
    /// Starts resolving; the returned future yields every address found.
    fn resolve(&self) -> Resolve;
}

/// The future returned by [`ToSocketAddrs::resolve`] and [`lookup_host`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Resolve(ResolveState);

#[derive(Debug)]
enum ResolveState {
    Ready(Option<io::Result<Vec<SocketAddr>>>),
    Blocking(JoinHandle<io::Result<Vec<SocketAddr>>>),
}

impl Resolve {
    fn ready(addrs: Vec<SocketAddr>) -> Resolve {
        Resolve(ResolveState::Ready(Some(Ok(addrs))))
    }

    /// Parses `host:port` (or `host` and `port`) as a literal if possible,
    /// else resolves on the blocking pool.
    fn host(host: &str, port: Option<u16>) -> Resolve {
        let literal = match port {
            None => host.parse::<SocketAddr>().ok(),
            Some(p) => host.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, p)),
        };
        if let Some(addr) = literal {
            return Resolve::ready(vec![addr]);
        }
        let query = match port {
            None => host.to_owned(),
            Some(p) => format!("{host}:{p}"),
        };
        Resolve(ResolveState::Blocking(runtime::spawn_blocking(move || {
            std::net::ToSocketAddrs::to_socket_addrs(query.as_str())
                .map(Iterator::collect)
                .map_err(|e| io::Error::new(e.kind(), format!("resolving {query:?}: {e}")))
        })))
    }
}

impl Future for Resolve {
    type Output = io::Result<Vec<SocketAddr>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            ResolveState::Ready(res) => {
                Poll::Ready(res.take().unwrap_or_else(|| Err(io::Error::other("Resolve polled after completion"))))
            }
            ResolveState::Blocking(handle) => Pin::new(handle).poll(cx).map(|res| res.map_err(io::Error::from)?),
        }
    }
}

/// Resolves `host` (`"name:port"`, or anything [`ToSocketAddrs`]) to addresses.
///
/// ```
/// runtime::block_on(async {
///     let addrs = net::lookup_host("localhost:80").await?;
///     assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn lookup_host<A: ToSocketAddrs>(host: A) -> Resolve {
    host.resolve()
}

impl ToSocketAddrs for SocketAddr {
    fn resolve(&self) -> Resolve {
        Resolve::ready(vec![*self])
    }
}

impl ToSocketAddrs for SocketAddrV4 {
    fn resolve(&self) -> Resolve {
        Resolve::ready(vec![SocketAddr::V4(*self)])
    }
}

impl ToSocketAddrs for SocketAddrV6 {
    fn resolve(&self) -> Resolve {
        Resolve::ready(vec![SocketAddr::V6(*self)])
    }
}

macro_rules! ip_port {
    ($($ip:ty)*) => {$(
        impl ToSocketAddrs for ($ip, u16) {
            fn resolve(&self) -> Resolve {
                Resolve::ready(vec![SocketAddr::new(IpAddr::from(self.0), self.1)])
            }
        }
    )*};
}
ip_port! { IpAddr Ipv4Addr Ipv6Addr }

impl ToSocketAddrs for (&str, u16) {
    fn resolve(&self) -> Resolve {
        Resolve::host(self.0, Some(self.1))
    }
}

impl ToSocketAddrs for (String, u16) {
    fn resolve(&self) -> Resolve {
        Resolve::host(&self.0, Some(self.1))
    }
}

impl ToSocketAddrs for str {
    fn resolve(&self) -> Resolve {
        Resolve::host(self, None)
    }
}

impl ToSocketAddrs for String {
    fn resolve(&self) -> Resolve {
        Resolve::host(self, None)
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn resolve(&self) -> Resolve {
        Resolve::ready(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn resolve(&self) -> Resolve {
        (**self).resolve()
    }
}

/// Resolves `addr` and runs `f` on each address in turn, returning the
/// first success or the last error (with the address it happened on).
pub(crate) async fn each_addr<A, T, F, Fut>(addr: A, mut f: F) -> io::Result<T>
where
    A: ToSocketAddrs,
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let addrs = addr.resolve().await?;
    let mut last = None;
    for a in addrs {
        match f(a).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_v4_and_v6() {
        for s in ["127.0.0.1:8080", "[::1]:443", "[fe80::1%3]:9"] {
            let a: SocketAddr = s.parse().unwrap();
            assert_eq!(RawAddr::from_std(&a).to_std().unwrap(), a);
        }
    }

    #[test]
    fn rejects_unknown_family() {
        let raw = RawAddr::empty();
        assert_eq!(raw.to_std().unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
