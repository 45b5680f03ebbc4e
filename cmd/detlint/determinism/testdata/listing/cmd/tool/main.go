package main

import _ "sync" //detlint:allow sync cmd is out of scope

func main() {}
