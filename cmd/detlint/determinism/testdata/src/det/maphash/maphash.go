// Package maphash exercises the maphash rule.
package maphash

import "hash/maphash" // want `^import "hash/maphash": its seeds are random in every process \[maphash\]$`

var seed = maphash.MakeSeed() // want `^maphash.MakeSeed is seeded at random in every process \[maphash\]$`
