//! mTCP's socket calls on one context's stack. Every call is non-blocking and returns exactly the
//! errno of mtcp-api.md through [`Error`].

use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mtcp_io::Queue;
use mtcp_tcp::{Handle, State};

use crate::addr::{check_family, engine_ip, families, listener_key, shown, unspecified};
use crate::error::{Error, Result};
use crate::socket::{Listener, Phase, SockKind, SockOpts, Socket, Stream};
use crate::sockets::Owner;
use crate::stack::Stack;

/// Where an active open goes: the port, our address and bound port (if any), the peer.
#[derive(Clone, Copy)]
struct ActiveRoute {
    port: usize,
    local: (std::net::IpAddr, Option<u16>),
    remote: (std::net::IpAddr, u16),
}

/// `MSG_PEEK`.
pub const MSG_PEEK: i32 = libc::MSG_PEEK;

fn tcp_err(e: mtcp_tcp::Error) -> Error {
    match e {
        mtcp_tcp::Error::WouldBlock => Error::Again,
        mtcp_tcp::Error::InvalidState | mtcp_tcp::Error::InvalidHandle => Error::NotConn,
        mtcp_tcp::Error::Reset => Error::ConnReset,
        mtcp_tcp::Error::TimedOut => Error::TimedOut,
        mtcp_tcp::Error::AddrInUse => Error::AddrInUse,
        mtcp_tcp::Error::TooManyConnections | mtcp_tcp::Error::NoBuffers => Error::NoMem,
        _ => Error::Inval,
    }
}

impl<Q: Queue> Stack<Q> {
    fn new_socket(&self, kind: SockKind) -> Socket {
        Socket {
            kind,
            watcher: None,
            opts: SockOpts {
                nonblock: false,
                rcvbuf: self.sockets.default_rcvbuf,
                sndbuf: self.sockets.default_sndbuf,
                nodelay: self.sockets.engine.config().no_delay,
                reuseaddr: false,
                keepalive: false,
                linger: (false, 0),
                congestion: None,
                ipv6: false,
                v6only: false,
            },
        }
    }

    /// `mtcp_socket`: AF_INET or AF_INET6 + SOCK_STREAM (optionally `| SOCK_NONBLOCK`),
    /// protocol 0 or TCP.
    pub fn socket(&mut self, domain: i32, ty: i32, protocol: i32) -> Result<i32> {
        if domain != libc::AF_INET && domain != libc::AF_INET6 {
            return Err(Error::AfNoSupport);
        }
        let nonblock = ty & libc::SOCK_NONBLOCK != 0;
        if ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != libc::SOCK_STREAM
            || (protocol != 0 && protocol != libc::IPPROTO_TCP)
        {
            return Err(Error::Inval);
        }
        let mut s = self.new_socket(SockKind::Stream(Stream::new()));
        s.opts.nonblock = nonblock;
        s.opts.ipv6 = domain == libc::AF_INET6;
        self.sockets.socks.alloc(s)
    }

    /// `mtcp_bind`: an address of the socket's family (`EAFNOSUPPORT` otherwise). As in Linux,
    /// an IPv4 socket and an IPv6 one with IPV6_V6ONLY may take the same port; a dual-stack
    /// IPv6 socket on `::` and an IPv4 one may not (`EADDRINUSE`).
    pub fn bind(&mut self, sockid: i32, addr: impl Into<SocketAddr>) -> Result<()> {
        let addr = addr.into();
        let sock = self.sockets.socks.get(sockid)?;
        check_family(&addr, sock.opts.ipv6)?;
        let in_use = addr.port() != 0 && self.port_taken(addr, sock.opts.v6only);
        let st = self.sockets.socks.stream_mut(sockid)?;
        if st.local.is_some() || st.phase != Phase::Fresh {
            return Err(Error::Inval);
        }
        if in_use {
            return Err(Error::AddrInUse);
        }
        st.local = Some(addr);
        Ok(())
    }

    /// Whether a bound (not yet connected) or listening socket has `addr`'s port in a family
    /// that a socket bound to `addr` with `v6only` would take too.
    fn port_taken(&self, addr: SocketAddr, v6only: bool) -> bool {
        let (v4, v6) = families(addr, v6only);
        self.sockets.socks.ids().into_iter().any(|id| {
            let Ok(sock) = self.sockets.socks.get(id) else {
                return false;
            };
            let local = match &sock.kind {
                SockKind::Stream(st) if st.phase == Phase::Fresh => st.local,
                SockKind::Listener(l) => Some(l.local),
                _ => None,
            };
            local.is_some_and(|a| {
                let (a4, a6) = families(a, sock.opts.v6only);
                a.port() == addr.port() && ((v4 && a4) || (v6 && a6))
            })
        })
    }

    /// The engine settings a socket's options ask for (SO_SNDBUF, SO_RCVBUF, TCP_NODELAY,
    /// SO_KEEPALIVE). They take effect at `connect` or `listen`; TCP_NODELAY and SO_KEEPALIVE
    /// also on a connected socket.
    fn conn_options(&self, opts: &SockOpts) -> mtcp_tcp::ConnOptions {
        mtcp_tcp::ConnOptions {
            send_buffer_bytes: opts.sndbuf.max(64) as usize,
            recv_buffer_bytes: opts.rcvbuf.max(64) as usize,
            no_delay: opts.nodelay,
            keepalive: opts.keepalive.then(|| self.keepalive_params()),
            congestion_control: opts
                .congestion
                .unwrap_or(self.sockets.engine.config().congestion_control),
        }
    }

    /// Keepalive timing: the engine's when mtcp.conf set one, else Linux's defaults
    /// (`tcp_keepalive_time` 7200 s, `tcp_keepalive_intvl` 75 s, `tcp_keepalive_probes` 9).
    fn keepalive_params(&self) -> mtcp_tcp::Keepalive {
        self.sockets
            .engine
            .config()
            .keepalive
            .unwrap_or(mtcp_tcp::Keepalive {
                idle: mtcp_tcp::Duration::from_secs(7200),
                interval: mtcp_tcp::Duration::from_secs(75),
                probes: 9,
            })
    }

    /// SO_LINGER with its `struct linger` (`l_onoff`, `l_linger` seconds). On with 0 seconds,
    /// `close` resets the connection (RST) instead of closing it gracefully; on with a timeout,
    /// `close` stays non-blocking and the stack finishes the connection alone.
    pub fn set_linger(&mut self, sockid: i32, on: bool, secs: i32) -> Result<()> {
        if secs < 0 {
            return Err(Error::Inval);
        }
        self.sockets.socks.get_mut(sockid)?.opts.linger = (on, secs);
        Ok(())
    }

    /// TCP_CONGESTION by name (`cubic`, `newreno`/`reno`, `bbr`; `ENOENT` for others, as
    /// Linux): for the socket's next `connect`/`listen`, and at once on a connected socket.
    pub fn set_congestion(&mut self, sockid: i32, name: &str) -> Result<()> {
        let cc = mtcp_tcp::cc::CcAlgorithm::from_name(name).ok_or(Error::NoEnt)?;
        let sock = self.sockets.socks.get_mut(sockid)?;
        sock.opts.congestion = Some(cc);
        if let SockKind::Stream(Stream {
            handle: Some(h), ..
        }) = sock.kind
        {
            let _ = self.sockets.engine.set_congestion_control(h, cc);
        }
        Ok(())
    }

    /// `mtcp_listen`.
    pub fn listen(&mut self, sockid: i32, backlog: i32) -> Result<()> {
        let max = self.sockets.engine.config().max_connections;
        let sock = self.sockets.socks.get_mut(sockid)?;
        let local = match &sock.kind {
            SockKind::Stream(st) if st.phase == Phase::Fresh => st.local.ok_or(Error::Inval)?,
            SockKind::Stream(_) | SockKind::Listener(_) => return Err(Error::Inval),
            _ => return Err(Error::NotSock),
        };
        if backlog <= 0 || backlog as usize > max {
            return Err(Error::Inval);
        }
        let sock_opts = sock.opts;
        let opts = self.conn_options(&sock_opts);
        let engine = &mut self.sockets.engine;
        match engine_ip(local.ip()) {
            IpAddr::V6(a) if sock_opts.v6only => {
                engine.listen_v6only(a, local.port(), backlog as usize, opts)
            }
            ip => engine.listen_with(ip, local.port(), backlog as usize, opts),
        }
        .map_err(|_| Error::AddrInUse)?;
        let sock = self.sockets.socks.get_mut(sockid)?;
        sock.kind = SockKind::Listener(Listener {
            local,
            backlog: backlog as usize,
            queue: std::collections::VecDeque::with_capacity(backlog as usize),
        });
        self.sockets.listeners.insert(listener_key(local), sockid);
        Ok(())
    }

    /// `mtcp_accept`: the new socket and the peer's address.
    pub fn accept(&mut self, sockid: i32) -> Result<(i32, SocketAddr)> {
        let listener = self.sockets.socks.get(sockid)?;
        let ipv6 = listener.opts.ipv6;
        let key = match &listener.kind {
            SockKind::Listener(l) => listener_key(l.local),
            SockKind::Stream(_) => return Err(Error::Inval),
            _ => return Err(Error::NotSock),
        };
        self.sockets.fill_listener(&mut self.epolls, key);
        loop {
            let Ok(SockKind::Listener(l)) = self.sockets.socks.get_mut(sockid).map(|s| &mut s.kind)
            else {
                return Err(Error::Inval);
            };
            let Some(h) = l.queue.pop_front() else {
                return Err(Error::Again);
            };
            let Ok(t) = self.sockets.engine.tuple(h) else {
                continue;
            };
            let mut st = Stream::new();
            st.handle = Some(h);
            st.phase = Phase::Connected;
            st.local = Some(shown(t.local_addr, t.local_port, ipv6));
            let remote = shown(t.remote_addr, t.remote_port, ipv6);
            st.remote = Some(remote);
            let mut sock = self.new_socket(SockKind::Stream(st));
            // As in Linux, an accepted socket inherits its listener's options (not O_NONBLOCK).
            if let Ok(listener) = self.sockets.socks.get(sockid) {
                sock.opts = SockOpts {
                    nonblock: false,
                    ..listener.opts
                };
            }
            match self.sockets.socks.alloc(sock) {
                Ok(id) => {
                    self.sockets.set_owner(h, Owner::Stream(id));
                    self.sockets.fill_listener(&mut self.epolls, key);
                    return Ok((id, remote));
                }
                Err(e) => {
                    if let Ok(SockKind::Listener(l)) =
                        self.sockets.socks.get_mut(sockid).map(|s| &mut s.kind)
                    {
                        l.queue.push_front(h);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// `mtcp_init_rss`: later connects pick source ports whose replies hash to this core.
    /// `saddr_base` of `0.0.0.0` means the egress port's address.
    pub fn init_rss(
        &mut self,
        saddr_base: Ipv4Addr,
        num_addr: i32,
        _daddr: Ipv4Addr,
        _dport: u16,
    ) -> Result<()> {
        if num_addr <= 0 {
            return Err(Error::Inval);
        }
        self.ports.rss_base = (!saddr_base.is_unspecified()).then_some(saddr_base);
        Ok(())
    }

    /// `mtcp_connect`: `Err(InProgress)` once the SYN is on its way; EPOLLOUT (or EPOLLERR with
    /// SO_ERROR) follows. An address of the socket's family (`EAFNOSUPPORT` otherwise).
    pub fn connect(&mut self, sockid: i32, addr: impl Into<SocketAddr>) -> Result<()> {
        let addr = addr.into();
        let ipv6 = self.sockets.socks.get(sockid)?.opts.ipv6;
        let route = self.connect_route(sockid, addr)?;
        let h = self.open_active(sockid, &route)?;
        let t = self.sockets.engine.tuple(h).map_err(tcp_err)?;
        self.sockets.set_owner(h, Owner::Stream(sockid));
        let st = self.sockets.socks.stream_mut(sockid)?;
        st.handle = Some(h);
        st.phase = Phase::Connecting;
        st.local = Some(shown(t.local_addr, t.local_port, ipv6));
        st.remote = Some(addr);
        Err(Error::InProgress)
    }

    /// Checks that `sockid` may connect to `addr` and finds the port and our address to use.
    fn connect_route(&self, sockid: i32, addr: SocketAddr) -> Result<ActiveRoute> {
        let sock = self.sockets.socks.get(sockid)?;
        let (ipv6, v6only) = (sock.opts.ipv6, sock.opts.v6only);
        let st = match &sock.kind {
            SockKind::Stream(s) => s,
            SockKind::Listener(_) => return Err(Error::Inval),
            _ => return Err(Error::NotSock),
        };
        match st.phase {
            Phase::Connecting => return Err(Error::Already),
            Phase::Connected => return Err(Error::IsConn),
            Phase::Gone => return Err(Error::Inval),
            Phase::Fresh => {}
        }
        check_family(&addr, ipv6)?;
        let (remote_ip, rport) = (engine_ip(addr.ip()), addr.port());
        // An IPv6-only socket reaches no IPv4 peer, mapped or not (Linux: ENETUNREACH).
        if v6only && remote_ip.is_ipv4() {
            return Err(Error::NetUnreach);
        }
        if rport == 0 || remote_ip.is_unspecified() {
            return Err(Error::Inval);
        }
        let port = self.ports.route(remote_ip).ok_or(Error::NetUnreach)?;
        let bound_ip = st
            .local
            .map(|a| engine_ip(a.ip()))
            .filter(|ip| !ip.is_unspecified());
        let local_ip = match bound_ip {
            Some(ip) if ip.is_ipv4() != remote_ip.is_ipv4() => return Err(Error::Inval),
            Some(ip) => ip,
            None => self
                .ports
                .source_for(port, remote_ip)
                .ok_or(Error::NetUnreach)?,
        };
        Ok(ActiveRoute {
            port,
            local: (local_ip, st.local.map(|a| a.port()).filter(|&p| p != 0)),
            remote: (remote_ip, rport),
        })
    }

    /// Opens the engine's connection along `route`: on the bound port, or on a local port whose
    /// replies the port's RSS steers to this core, or on any ephemeral port.
    fn open_active(&mut self, sockid: i32, route: &ActiveRoute) -> Result<Handle> {
        let now = self.now();
        let opts = self.conn_options(&self.sockets.socks.get(sockid)?.opts);
        let ActiveRoute {
            port,
            local,
            remote,
        } = *route;
        match (local.1, self.ports.rss.get(port).cloned().flatten()) {
            (Some(lport), rss) => {
                if rss.is_some_and(|r| !r.lands_here(local.0, lport, remote.0, remote.1)) {
                    return Err(Error::Inval);
                }
                self.sockets
                    .engine
                    .connect_with(now, (local.0, lport), remote, opts)
                    .map_err(tcp_err)
            }
            (None, None) => self
                .sockets
                .engine
                .connect_with(now, (local.0, 0), remote, opts)
                .map_err(|e| match e {
                    mtcp_tcp::Error::AddrInUse => Error::Again,
                    e => tcp_err(e),
                }),
            (None, Some(rss)) => {
                for _ in 0..(65536 - 1025) {
                    let lport = self.ports.rss_cursor;
                    self.ports.rss_cursor = if lport == u16::MAX { 1025 } else { lport + 1 };
                    if self.sockets.port_listened(lport)
                        || !rss.lands_here(local.0, lport, remote.0, remote.1)
                    {
                        continue;
                    }
                    match self
                        .sockets
                        .engine
                        .connect_with(now, (local.0, lport), remote, opts)
                    {
                        Ok(h) => return Ok(h),
                        Err(mtcp_tcp::Error::AddrInUse) => continue,
                        Err(e) => return Err(tcp_err(e)),
                    }
                }
                Err(Error::Again)
            }
        }
    }

    /// `mtcp_read`.
    pub fn read(&mut self, sockid: i32, buf: &mut [u8]) -> Result<usize> {
        self.recv(sockid, buf, 0)
    }

    /// `mtcp_recv`: `flags` 0 or `MSG_PEEK`.
    pub fn recv(&mut self, sockid: i32, buf: &mut [u8], flags: i32) -> Result<usize> {
        if let Ok(Socket {
            kind: SockKind::Pipe { slot, read_end },
            ..
        }) = self.sockets.socks.get(sockid)
        {
            let (slot, read_end) = (*slot, *read_end);
            return self.pipe_read(slot, read_end, buf);
        }
        if flags != 0 && flags != MSG_PEEK {
            self.sockets.socks.stream_mut(sockid)?;
            return Err(Error::Inval);
        }
        let st = self.sockets.socks.stream_mut(sockid)?;
        if st.shut_rd {
            return Ok(0);
        }
        let h = match (st.phase, st.handle) {
            (Phase::Connected, Some(h)) => h,
            (Phase::Gone, _) => {
                if !st.peeked.is_empty() {
                    return Ok(take_peeked(st, buf, flags));
                }
                return match std::mem::take(&mut st.so_error) {
                    0 => Ok(0),
                    e => Err(Error::from_errno(e).unwrap_or(Error::ConnReset)),
                };
            }
            _ => return Err(Error::NotConn),
        };
        if flags == MSG_PEEK {
            // Move what the engine holds behind the already peeked bytes, then copy without taking.
            let mut tmp = [0u8; 4096];
            loop {
                match self.sockets.engine.recv(h, &mut tmp) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => st.peeked.extend(&tmp[..n]),
                }
            }
        }
        if !st.peeked.is_empty() {
            let n = take_peeked(st, buf, flags);
            if flags == MSG_PEEK || n == buf.len() {
                return Ok(n);
            }
            return match self.sockets.engine.recv(h, &mut buf[n..]) {
                Ok(m) => Ok(n + m),
                Err(_) => Ok(n),
            };
        }
        match self.sockets.engine.recv(h, buf) {
            Ok(n) => Ok(n),
            Err(mtcp_tcp::Error::WouldBlock) => Err(Error::Again),
            Err(mtcp_tcp::Error::InvalidState) => Ok(0),
            Err(e) => Err(tcp_err(e)),
        }
    }

    /// `mtcp_readv`.
    pub fn readv(&mut self, sockid: i32, iov: &mut [IoSliceMut<'_>]) -> Result<usize> {
        self.read_parts(sockid, iov.iter_mut().map(|b| &mut **b))
    }

    /// `readv` over any sequence of buffers (the threaded mode's flat buffer cut by lengths).
    pub(crate) fn read_parts<'a>(
        &mut self,
        sockid: i32,
        parts: impl Iterator<Item = &'a mut [u8]>,
    ) -> Result<usize> {
        each_part(
            parts.filter(|b| !b.is_empty()),
            |b| b.len(),
            |b| self.read(sockid, b),
        )
    }

    /// `mtcp_write`: copies what fits in the send buffer; `EAGAIN` when it is full.
    pub fn write(&mut self, sockid: i32, data: &[u8]) -> Result<usize> {
        if let Ok(Socket {
            kind: SockKind::Pipe { slot, read_end },
            ..
        }) = self.sockets.socks.get(sockid)
        {
            let (slot, read_end) = (*slot, *read_end);
            return self.pipe_write(slot, read_end, data);
        }
        let st = self.sockets.socks.stream_mut(sockid)?;
        if st.shut_wr {
            return Err(Error::Pipe);
        }
        let h = match (st.phase, st.handle) {
            (Phase::Connected, Some(h)) => h,
            (Phase::Gone, _) if st.so_error != 0 => {
                let e = std::mem::take(&mut st.so_error);
                return Err(Error::from_errno(e).unwrap_or(Error::ConnReset));
            }
            (Phase::Gone, _) => return Err(Error::Pipe),
            _ => return Err(Error::NotConn),
        };
        match self.sockets.engine.state(h) {
            Ok(State::Established | State::CloseWait) => {}
            _ => return Err(Error::NotConn),
        }
        if data.is_empty() {
            return Ok(0);
        }
        self.sockets.engine.send(h, data).map_err(tcp_err)
    }

    /// `mtcp_writev`.
    pub fn writev(&mut self, sockid: i32, iov: &[IoSlice<'_>]) -> Result<usize> {
        self.write_parts(sockid, iov.iter().map(|b| &**b))
    }

    /// `writev` over any sequence of buffers (the threaded mode's flat buffer cut by lengths).
    pub(crate) fn write_parts<'a>(
        &mut self,
        sockid: i32,
        parts: impl Iterator<Item = &'a [u8]>,
    ) -> Result<usize> {
        each_part(parts, |b| b.len(), |b| self.write(sockid, b))
    }

    /// `mtcp_shutdown`: `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
    pub fn shutdown(&mut self, sockid: i32, how: i32) -> Result<()> {
        let st = self.sockets.socks.stream_mut(sockid)?;
        if !(0..=2).contains(&how) {
            return Err(Error::Inval);
        }
        let h = match (st.phase, st.handle) {
            (Phase::Connected, Some(h)) => h,
            _ => return Err(Error::NotConn),
        };
        if how != libc::SHUT_WR {
            st.shut_rd = true;
        }
        if how != libc::SHUT_RD && !st.shut_wr {
            st.shut_wr = true;
            if self.sockets.engine.state(h) == Ok(State::CloseWait) {
                crate::sockets::rescue(&mut self.sockets.engine, h, st);
            }
            self.sockets.engine.shutdown_write(h).map_err(tcp_err)?;
        }
        self.epolls.notify(&self.sockets.socks, sockid);
        Ok(())
    }

    /// `mtcp_close`: always frees the id.
    pub fn close(&mut self, sockid: i32) -> Result<()> {
        self.release(sockid, false)
    }

    /// `mtcp_abort`: RST for a connection, then frees the id.
    pub fn abort(&mut self, sockid: i32) -> Result<()> {
        self.release(sockid, true)
    }

    fn release(&mut self, sockid: i32, abort: bool) -> Result<()> {
        let sock = self.sockets.socks.get(sockid)?;
        if let Some(slot) = sock.watcher {
            if let Some(Some(ep)) = self.epolls.instances.get_mut(slot) {
                let _ = ep.forget(sockid.unsigned_abs());
            }
        }
        let Some(sock) = self.sockets.socks.free(sockid) else {
            return Err(Error::BadF);
        };
        // SO_LINGER on with a zero timeout: close resets (as in Linux).
        let abort = abort || sock.opts.linger == (true, 0);
        match sock.kind {
            SockKind::Stream(st) => {
                if let Some(h) = st.handle {
                    self.sockets.set_owner(h, Owner::Orphan);
                    let _ = if abort {
                        self.sockets.engine.abort(h)
                    } else {
                        self.sockets.engine.close(h)
                    };
                }
            }
            SockKind::Listener(l) => {
                self.sockets.listeners.remove(&listener_key(l.local));
                for h in l.queue {
                    self.sockets.set_owner(h, Owner::Orphan);
                    let _ = self.sockets.engine.abort(h);
                }
                let _ = self.sockets.engine.unlisten_key(listener_key(l.local));
            }
            SockKind::Epoll(slot) => {
                self.epolls.instances[slot] = None;
                for id in self.sockets.socks.ids() {
                    if let Ok(s) = self.sockets.socks.get_mut(id) {
                        if s.watcher == Some(slot) {
                            s.watcher = None;
                        }
                    }
                }
            }
            SockKind::Pipe { slot, read_end } => self.pipe_close(slot, read_end),
        }
        self.sockets.handle_events(&mut self.epolls);
        Ok(())
    }

    /// `mtcp_getsockname`.
    pub fn getsockname(&self, sockid: i32) -> Result<SocketAddr> {
        let sock = self.sockets.socks.get(sockid)?;
        match &sock.kind {
            SockKind::Stream(st) => Ok(st.local.unwrap_or(unspecified(sock.opts.ipv6))),
            SockKind::Listener(l) => Ok(l.local),
            _ => Err(Error::NotSock),
        }
    }

    /// `mtcp_getpeername`.
    pub fn getpeername(&self, sockid: i32) -> Result<SocketAddr> {
        match &self.sockets.socks.get(sockid)?.kind {
            SockKind::Stream(st) if st.phase == Phase::Connected => st.remote.ok_or(Error::NotConn),
            SockKind::Stream(_) | SockKind::Listener(_) => Err(Error::NotConn),
            _ => Err(Error::NotSock),
        }
    }

    /// `mtcp_setsock_nonblock`.
    pub fn setsock_nonblock(&mut self, sockid: i32) -> Result<()> {
        self.sockets.socks.get_mut(sockid)?.opts.nonblock = true;
        Ok(())
    }

    /// `mtcp_socket_ioctl`: `FIONREAD` (readable bytes) or `FIONBIO`; `EFAULT` without `arg`.
    pub fn socket_ioctl(&mut self, sockid: i32, request: u64, arg: Option<&mut i32>) -> Result<()> {
        let readable = self.readable_bytes(sockid)?;
        let arg = arg.ok_or(Error::Fault)?;
        match request {
            r if r == libc::FIONREAD => *arg = readable,
            r if r == libc::FIONBIO => {
                self.sockets.socks.get_mut(sockid)?.opts.nonblock = *arg != 0
            }
            _ => return Err(Error::Inval),
        }
        Ok(())
    }

    fn readable_bytes(&self, sockid: i32) -> Result<i32> {
        Ok(match &self.sockets.socks.get(sockid)?.kind {
            SockKind::Stream(st) => {
                let queued = st
                    .handle
                    .and_then(|h| self.sockets.engine.recv_queue(h).ok())
                    .unwrap_or(0);
                (queued + st.peeked.len()) as i32
            }
            SockKind::Pipe {
                slot,
                read_end: true,
            } => self.epolls.pipes[*slot]
                .as_ref()
                .map_or(0, |p| p.buffered_bytes()) as i32,
            _ => 0,
        })
    }

    /// `mtcp_getsockopt` for an `int` option: SO_ERROR (read and cleared), SO_RCVBUF, SO_SNDBUF,
    /// SO_TYPE, SO_REUSEADDR, SO_KEEPALIVE, TCP_NODELAY; else `ENOPROTOOPT`.
    pub fn getsockopt(&mut self, sockid: i32, level: i32, optname: i32) -> Result<i32> {
        let sock = self.sockets.socks.get_mut(sockid)?;
        let ty = sock.sock_type() as i32;
        match (level, optname) {
            (libc::SOL_SOCKET, libc::SO_ERROR) => Ok(match &mut sock.kind {
                SockKind::Stream(st) => std::mem::take(&mut st.so_error),
                _ => 0,
            }),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => Ok(sock.opts.rcvbuf),
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => Ok(sock.opts.sndbuf),
            (libc::SOL_SOCKET, libc::SO_TYPE) => Ok(ty),
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => Ok(sock.opts.reuseaddr as i32),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => Ok(sock.opts.keepalive as i32),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => Ok(sock.opts.nodelay as i32),
            (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) if sock.opts.ipv6 => {
                Ok(sock.opts.v6only as i32)
            }
            _ => Err(Error::NoProtoOpt),
        }
    }

    /// `mtcp_setsockopt` for an `int` option. SO_LINGER takes `l_onoff` here with a 0 s timeout
    /// (close resets); [`Stack::set_linger`] takes both fields of `struct linger`.
    pub fn setsockopt(&mut self, sockid: i32, level: i32, optname: i32, value: i32) -> Result<()> {
        let sock = self.sockets.socks.get_mut(sockid)?;
        match (level, optname) {
            (libc::SOL_SOCKET, libc::SO_RCVBUF) | (libc::SOL_SOCKET, libc::SO_SNDBUF)
                if value < 64 =>
            {
                return Err(Error::Inval);
            }
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => sock.opts.rcvbuf = value,
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => sock.opts.sndbuf = value,
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => sock.opts.reuseaddr = value != 0,
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => {
                sock.opts.keepalive = value != 0;
                if let SockKind::Stream(Stream {
                    handle: Some(h), ..
                }) = sock.kind
                {
                    let ka = (value != 0).then(|| self.keepalive_params());
                    let _ = self.sockets.engine.set_keepalive(h, ka);
                }
            }
            (libc::SOL_SOCKET, libc::SO_LINGER) => sock.opts.linger = (value != 0, 0),
            // As Linux: only before the socket is bound.
            (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) if sock.opts.ipv6 => match &sock.kind {
                SockKind::Stream(st) if st.local.is_none() => sock.opts.v6only = value != 0,
                _ => return Err(Error::Inval),
            },
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => {
                sock.opts.nodelay = value != 0;
                if let SockKind::Stream(Stream {
                    handle: Some(h), ..
                }) = sock.kind
                {
                    let _ = self.sockets.engine.set_nodelay(h, value != 0);
                }
            }
            _ => return Err(Error::NoProtoOpt),
        }
        Ok(())
    }

    /// TCP_INFO-like statistics of a connected stream.
    pub fn tcp_info(&mut self, sockid: i32) -> Result<mtcp_tcp::TcpInfo> {
        let st = self.sockets.socks.stream_mut(sockid)?;
        let h = st.handle.ok_or(Error::NotConn)?;
        self.sockets.engine.info(h).map_err(tcp_err)
    }

    /// The address family of `sockid`: `AF_INET6` for an IPv6 socket, else `AF_INET`.
    pub fn socket_domain(&self, sockid: i32) -> Result<i32> {
        Ok(if self.sockets.socks.get(sockid)?.opts.ipv6 {
            libc::AF_INET6
        } else {
            libc::AF_INET
        })
    }

    /// mTCP's socket type of `sockid`.
    pub fn sock_type(&self, sockid: i32) -> Result<crate::socket::SockType> {
        Ok(self.sockets.socks.get(sockid)?.sock_type())
    }
}

/// readv's and writev's rule over `parts`: `op` on each in turn until one is not used up (`len`
/// tells its size); an error after some bytes ends the call with those bytes.
fn each_part<B>(
    parts: impl Iterator<Item = B>,
    len: impl Fn(&B) -> usize,
    mut op: impl FnMut(B) -> Result<usize>,
) -> Result<usize> {
    let mut total = 0;
    for b in parts {
        let want = len(&b);
        match op(b) {
            Ok(n) => {
                total += n;
                if n < want {
                    break;
                }
            }
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(total)
}

fn take_peeked(st: &mut Stream, buf: &mut [u8], flags: i32) -> usize {
    let n = buf.len().min(st.peeked.len());
    for (d, s) in buf[..n].iter_mut().zip(st.peeked.iter()) {
        *d = *s;
    }
    if flags != MSG_PEEK {
        st.peeked.drain(..n);
    }
    n
}
