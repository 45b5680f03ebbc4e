// Package schedule runs callbacks at given times, one at a time and in
// time order, on a goroutine of its own: the clock of a world that is not
// the simulator's, the wall clock of a live run (scenarios/liverun) or
// the virtual clock of a testing/synctest bubble (scenarios/foreign),
// where the nemesis schedules its faults.
//
// May import: nothing of ours.
package schedule

import (
	"container/heap"
	"sync"
	"time"
)

// Scheduler runs callbacks when their time comes, by the clock Now
// reads. It also holds the first error a callback met (Fail), so that a
// run reports it rather than go on as if the action had happened.
type Scheduler struct {
	now func() time.Duration

	mu     sync.Mutex
	queue  events
	seq    uint64
	wake   chan struct{}
	done   chan struct{}
	closed bool
	failed error
}

// New starts a scheduler on the clock now (time since the run began).
func New(now func() time.Duration) *Scheduler {
	s := &Scheduler{now: now, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.loop()
	return s
}

type event struct {
	at  time.Duration
	seq uint64
	fn  func()
}

// events is a heap by time, then by the order they were scheduled in.
type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	return e[i].at < e[j].at || e[i].at == e[j].at && e[i].seq < e[j].seq
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// Now is the time since the run began.
func (s *Scheduler) Now() time.Duration { return s.now() }

// At runs fn at t; a t already past runs it as soon as possible, after
// what was scheduled for earlier.
func (s *Scheduler) At(t time.Duration, fn func()) {
	s.mu.Lock()
	s.seq++
	heap.Push(&s.queue, event{t, s.seq, fn})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// After runs fn d from now.
func (s *Scheduler) After(d time.Duration, fn func()) { s.At(s.Now()+d, fn) }

// loop runs the scheduled callbacks when their time comes.
func (s *Scheduler) loop() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		if len(s.queue) > 0 && s.queue[0].at <= s.Now() {
			ev := heap.Pop(&s.queue).(event)
			s.mu.Unlock()
			ev.fn()
			continue
		}
		wait := time.Hour
		if len(s.queue) > 0 {
			wait = s.queue[0].at - s.Now()
		}
		s.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-s.wake:
			timer.Stop()
		}
	}
}

// Close stops the scheduler and waits for the callback that runs, if
// one does; callbacks not yet run never run.
func (s *Scheduler) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.done
}

// Fail records err if it is the first.
func (s *Scheduler) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = err
	}
}

// Err is the first error recorded with Fail.
func (s *Scheduler) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}
