// Package net exercises the net rule.
package net

import (
	"net"               // want `^import "net": the network is env.Send \[net\]$`
	"net/http"          // want `import "net/http"`
	"net/http/httptest" // want `import "net/http/httptest"`
	"net/mail"
	"net/netip"
	"net/smtp"      // want `import "net/smtp"`
	"net/textproto" //detlint:allow net parses MIME headers only
	"net/url"
)

var (
	_ = net.Dial
	_ = http.Get
	_ = httptest.NewServer
	_ = smtp.Dial
	_ = textproto.CanonicalMIMEHeaderKey
	_ = mail.ParseAddress
	_ = netip.MustParseAddr
	_ = url.Parse
)
