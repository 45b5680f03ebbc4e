package schedule

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// Callbacks run in time order, those of one time in the order they were
// scheduled, one at a time; Close stops the rest; Fail keeps the first
// error.
func TestScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		begin := time.Now()
		s := New(func() time.Duration { return time.Since(begin) })
		var got []string
		ran := make(chan struct{}, 10)
		note := func(what string) func() {
			return func() { got = append(got, what); ran <- struct{}{} }
		}
		s.At(2*time.Second, note("b1"))
		s.At(time.Second, note("a"))
		s.At(2*time.Second, note("b2"))
		s.After(3*time.Second, note("c"))
		s.At(time.Hour, note("never"))
		for range 4 {
			<-ran
		}
		if now := s.Now(); now != 3*time.Second {
			t.Errorf("the last ran at %s, want 3s", now)
		}
		s.Close()
		time.Sleep(2 * time.Hour)
		if want := "a b1 b2 c"; join(got) != want {
			t.Errorf("ran %q, want %q", join(got), want)
		}
		first := errors.New("first")
		s.Fail(first)
		s.Fail(errors.New("second"))
		if s.Err() != first {
			t.Errorf("Err = %v", s.Err())
		}
	})
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
