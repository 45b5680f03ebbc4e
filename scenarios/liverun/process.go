package liverun

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// process is one instance of the cluster: a `shoal serve` process that
// the harness starts, signals and stops by its PID. A killed process is
// started again with the same command line, which recovers it from its
// data directory.
type process struct {
	name env.NodeID
	bin  string
	args []string
	dir  string // the instance's directory in the run directory
	http string // host:port of its API

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
	inc     int           // incarnation: 1 at the first start
	paused  bool
	killing bool // the harness is killing or stopping it: an exit is expected
	// onExit is told of an exit the harness did not cause.
	onExit func(p *process, inc int, err error)
}

// logFile is where the process's standard output and error go; every
// incarnation appends to it.
func (p *process) logFile() string { return filepath.Join(p.dir, "log") }

// traceFile is the engine's trace (serve --trace).
func (p *process) traceFile() string { return filepath.Join(p.dir, "trace.jsonl") }

// start starts a new incarnation. The caller holds no lock.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s is running already (pid %d)", p.name, p.cmd.Process.Pid)
	}
	log, err := os.OpenFile(p.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so that a Ctrl-C meant for the harness does
	// not reach the instances before the harness stops them itself; and
	// killed by the kernel should the harness die without stopping it.
	// (Pdeathsig follows the thread that started the process; Go does
	// not end its threads while the harness runs.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	p.cmd, p.exited, p.paused, p.killing = cmd, make(chan struct{}), false, false
	p.inc++
	inc, exited := p.inc, p.exited
	go func() {
		err := cmd.Wait()
		log.Close()
		p.mu.Lock()
		expected := p.killing
		if p.cmd == cmd {
			p.cmd, p.paused = nil, false
		}
		p.mu.Unlock()
		close(exited)
		if !expected && p.onExit != nil {
			p.onExit(p, inc, err)
		}
	}()
	return nil
}

// pid is the running incarnation's process ID, 0 when it is down.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *process) up() bool { return p.pid() != 0 }

func (p *process) isPaused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && p.paused
}

// signal sends sig to the running incarnation; false when it is down.
func (p *process) signal(sig syscall.Signal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return false
	}
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT:
		p.paused = false
	}
	return true
}

// kill sends SIGKILL and waits for the process to be gone. It returns the
// incarnation that died, 0 when it was down already.
func (p *process) kill() int {
	p.mu.Lock()
	if p.cmd == nil {
		p.mu.Unlock()
		return 0
	}
	p.killing = true
	inc, exited := p.inc, p.exited
	_ = p.cmd.Process.Kill()
	p.mu.Unlock()
	<-exited
	return inc
}

// stop ends the process cleanly: SIGCONT if it is paused, SIGTERM, and
// SIGKILL if it has not exited after grace.
func (p *process) stop(grace time.Duration) error {
	p.mu.Lock()
	if p.cmd == nil {
		p.mu.Unlock()
		return nil
	}
	p.killing = true
	proc, exited := p.cmd.Process, p.exited
	if p.paused {
		_ = proc.Signal(syscall.SIGCONT)
	}
	err := proc.Signal(syscall.SIGTERM)
	p.mu.Unlock()
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = proc.Kill()
	}
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
		_ = proc.Kill()
		<-exited
		return fmt.Errorf("%s (pid %d) ignored SIGTERM for %s and was killed", p.name, proc.Pid, grace)
	}
}
