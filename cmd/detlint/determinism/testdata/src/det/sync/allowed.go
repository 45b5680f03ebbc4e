package sync

import "sync" //detlint:allow sync pebble calls the FS from its own goroutines

var once sync.Once
