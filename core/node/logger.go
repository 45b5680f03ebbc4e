package node

import "fmt"

// raftLogger silences etcd raft's logging, which carries nothing the trace
// does not, and turns its fatal errors into panics that the simulator
// reports with the seed.
type raftLogger struct{}

func (raftLogger) Debug(...any)            {}
func (raftLogger) Debugf(string, ...any)   {}
func (raftLogger) Info(...any)             {}
func (raftLogger) Infof(string, ...any)    {}
func (raftLogger) Warning(...any)          {}
func (raftLogger) Warningf(string, ...any) {}
func (raftLogger) Error(...any)            {}
func (raftLogger) Errorf(string, ...any)   {}
func (raftLogger) Fatal(v ...any)          { panic(fmt.Sprint(v...)) }
func (raftLogger) Fatalf(f string, v ...any) {
	panic(fmt.Sprintf(f, v...))
}
func (raftLogger) Panic(v ...any) { panic(fmt.Sprint(v...)) }
func (raftLogger) Panicf(f string, v ...any) {
	panic(fmt.Sprintf(f, v...))
}
