package server

import "sync/atomic"

// usage counts who uses a State: one reference while it is the served state, plus one per
// request in flight on it. When a reload has replaced it and its last request or stream has
// ended, its drained callback runs once (the host closes the old configuration's plugins
// and rules then), like Caddy's usage pool: no timer guesses how long requests may run.
type usage struct {
	refs    atomic.Int64
	drained atomic.Pointer[func()]
}

// OnDrained sets what runs once the State is no longer served (SetState replaced it) and
// no request uses it any more. Set it before the State is served.
func (st *State) OnDrained(f func()) { st.use.drained.Store(&f) }

// tryAcquire takes a reference unless the count already reached zero (the state is being
// retired): a request that loaded a state just as it was replaced must load again.
func (u *usage) tryAcquire() bool {
	for {
		n := u.refs.Load()
		if n <= 0 {
			return false
		}
		if u.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (u *usage) release() {
	if u.refs.Add(-1) == 0 {
		if f := u.drained.Load(); f != nil {
			(*f)()
		}
	}
}

// acquire returns the served State with a reference taken for one request; the caller must
// call release on it when the request (its stream included) has ended.
func (s *Server) acquire() *State {
	for {
		st := s.state.Load()
		if st.use.tryAcquire() {
			return st
		}
	}
}

// release ends a request's use of st.
func (st *State) release() { st.use.release() }
