//! [`ToSocketAddrs`]: the addresses `bind` and `connect` accept, resolved
//! without blocking the loop.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::pin::Pin;
use std::task::{Context, Poll};

use runtime::JoinHandle;

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
