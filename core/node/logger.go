package node

import (
	"fmt"

	"github.com/shoaldb/shoal/core/env"
)

// RaftInvariant begins the error of an instance that etcd raft stopped
// because its own state was impossible (a follower asked to commit past
// the end of its log, which a lost write causes). The checkers read it in
// node.crash.
const RaftInvariant = "raft invariant: "

// StateInvariant begins the error of an instance whose state machine
// found, applying a command, that its state differs from the state of the
// leader that proposed it (kv.ErrDiverged). The convergence check reads
// it in node.crash.
const StateInvariant = "state invariant: "

// raftLogger silences etcd raft's logging, which carries nothing the trace
// does not. Raft's fatal errors end the instance, as they end a real
// process, through env.Fatal: the simulator records node.crash and goes
// on, and the raft-safety check judges the run invalid.
type raftLogger struct{}

func (raftLogger) Debug(...any)              {}
func (raftLogger) Debugf(string, ...any)     {}
func (raftLogger) Info(...any)               {}
func (raftLogger) Infof(string, ...any)      {}
func (raftLogger) Warning(...any)            {}
func (raftLogger) Warningf(string, ...any)   {}
func (raftLogger) Error(...any)              {}
func (raftLogger) Errorf(string, ...any)     {}
func (raftLogger) Fatal(v ...any)            { raftDies(fmt.Sprint(v...)) }
func (raftLogger) Fatalf(f string, v ...any) { raftDies(fmt.Sprintf(f, v...)) }
func (raftLogger) Panic(v ...any)            { raftDies(fmt.Sprint(v...)) }
func (raftLogger) Panicf(f string, v ...any) { raftDies(fmt.Sprintf(f, v...)) }
func raftDies(msg string)                    { panic(env.Fatal{Err: fmt.Errorf("%s%s", RaftInvariant, msg)}) }
