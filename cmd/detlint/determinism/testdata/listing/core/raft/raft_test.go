package raft

import _ "sync" //detlint:allow sync test files are not checked
