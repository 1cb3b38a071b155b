package activesync

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// On Linux one goroutine watches every held Ping's connection: it waits in
// epoll_wait on an epoll instance of its own, where each connection is
// registered once (EPOLLONESHOT) for input, peer shutdown and errors. That
// saves a goroutine blocked in a read per held Ping (see watchGone). The
// socket stays registered in Go's own poller too; the two do not interfere.

// connWatcher is the epoll instance and the connections it watches.
type connWatcher struct {
	epfd int
	mu   sync.Mutex
	gen  int32
	// conns maps a file descriptor to its registration. gen tells a
	// registration from an older one of the same, reused, descriptor.
	conns map[int32]watched
}

type watched struct {
	gen  int32
	gone chan struct{}
}

var sharedWatcher struct {
	once sync.Once
	w    atomic.Pointer[connWatcher] // nil if epoll failed
}

// watchGone closes gone when the device closes or resets c or sends
// anything. The returned stop ends the watch; call it before closing c.
func watchGone(c net.Conn, gone chan struct{}) (stop func()) {
	sharedWatcher.once.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return // every connection gets a reading goroutine instead
		}
		w := &connWatcher{epfd: fd, conns: map[int32]watched{}}
		sharedWatcher.w.Store(w)
		go w.loop()
	})
	if w := sharedWatcher.w.Load(); w != nil {
		if stop, err := w.add(c, gone); err == nil {
			return stop
		}
	}
	return watchByReading(c, gone)
}

func (w *connWatcher) add(c net.Conn, gone chan struct{}) (func(), error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.gen++
	gen := w.gen
	w.conns[int32(fd)] = watched{gen: gen, gone: gone}
	w.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd), Pad: gen}
	if err := syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		w.forget(int32(fd), gen)
		return nil, err
	}
	return func() {
		// Before c is closed, so fd is still c's.
		syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, fd, &ev)
		w.forget(int32(fd), gen)
	}, nil
}

func (w *connWatcher) forget(fd, gen int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if x, ok := w.conns[fd]; ok && x.gen == gen {
		delete(w.conns, fd)
	}
}

// loop closes the gone channel of each connection epoll reports. It holds
// an OS thread in epoll_wait for the life of the process.
func (w *connWatcher) loop() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(w.epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			w.failAll()
			return
		}
		w.mu.Lock()
		for _, ev := range events[:n] {
			if x, ok := w.conns[ev.Fd]; ok && x.gen == ev.Pad {
				delete(w.conns, ev.Fd)
				close(x.gone)
			}
		}
		w.mu.Unlock()
	}
}

// failAll ends every watched Ping (with Status 1) if epoll itself fails,
// and makes new ones fall back to a reading goroutine each.
func (w *connWatcher) failAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for fd, x := range w.conns {
		delete(w.conns, fd)
		close(x.gone)
	}
	sharedWatcher.w.Store(nil)
}
