// Peer servers for the echo and http workloads: Go (standard library only).
//
// Usage: go_servers echo|http PORT
//
//	echo: one goroutine per connection copies every byte back (64 KiB buffer)
//	http: net/http, a handler answering "hello, world" (text/plain)
//
// Listens on 127.0.0.1:PORT (0: any free port), prints "listening on port N",
// serves until killed. bench/run starts it with GOMAXPROCS=1 (one thread
// running Go code, like the other servers' one loop).
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "echo" && os.Args[1] != "http") {
		fmt.Fprintln(os.Stderr, "usage: go_servers echo|http PORT")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_servers:", err)
		os.Exit(1)
	}
	fmt.Printf("go_servers: listening on port %d\n", ln.Addr().(*net.TCPAddr).Port)
	if os.Args[1] == "echo" {
		for {
			c, err := ln.Accept()
			if err != nil {
				fmt.Fprintln(os.Stderr, "go_servers:", err)
				os.Exit(1)
			}
			go echo(c)
		}
	}
	hello := []byte("hello, world")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", "12")
		w.Write(hello)
	})
	fmt.Fprintln(os.Stderr, "go_servers:", http.Serve(ln, nil))
	os.Exit(1)
}
