package os

import (
	"os/exec"   // want `^import "os/exec": deterministic code does not touch the real machine \[os\]$`
	"os/signal" // want `import "os/signal"`
	"os/user"   // want `import "os/user"`
	"syscall"   //detlint:allow os needs syscall.Errno to classify pebble's errors
)

var (
	_ = exec.Command
	_ = signal.Notify
	_ = user.Current
	_ = syscall.ENOENT
)
