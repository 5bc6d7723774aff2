// Peer benchmark: Go goroutines and channels (standard library only, no go.mod needed).
//
// Usage: go_bench WORKLOAD N
//
//	WORKLOAD = spawn | sleepers | pingpong | chanpingpong | bufpingpong
//
// Prints one line: WORKLOAD n=N wall=SECONDS ns_per_op=NS maxrss_kb=KB
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// spawn: N goroutines, each yields once and stores its index; sum must be N*(N-1)/2.
func spawn(n int) {
	results := make([]int64, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			runtime.Gosched() // yield once
			results[i] = int64(i)
			wg.Done()
		}(i)
	}
	wg.Wait()
	var sum int64
	for _, v := range results {
		sum += v
	}
	if want := int64(n) * int64(n-1) / 2; sum != want {
		fmt.Fprintf(os.Stderr, "spawn: bad sum %d, expected %d\n", sum, want)
		os.Exit(1)
	}
}

// sleepers: N goroutines each sleep 1 s; wall includes spawning and waiting.
func sleepers(n int) {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			time.Sleep(time.Second)
			wg.Done()
		}()
	}
	wg.Wait()
}

// pingpong: two goroutines pass a counter N round trips through two channels
// of capacity cap (0 = unbuffered, 1 = like asyncio.Queue(1)).
func pingpong(n, capacity int) {
	ping, pong := make(chan int, capacity), make(chan int, capacity)
	go func() {
		for i := 0; i < n; i++ {
			pong <- (<-ping) + 1
		}
	}()
	v := 0
	for i := 0; i < n; i++ {
		ping <- v
		v = <-pong
	}
	if v != n {
		fmt.Fprintf(os.Stderr, "pingpong: bad counter %d, expected %d\n", v, n)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_bench {spawn|sleepers|pingpong|chanpingpong|bufpingpong} N")
		os.Exit(2)
	}
	name := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n <= 0 {
		fmt.Fprintln(os.Stderr, "bad N:", os.Args[2])
		os.Exit(2)
	}
	var fn func()
	switch name {
	case "spawn":
		fn = func() { spawn(n) }
	case "sleepers":
		fn = func() { sleepers(n) }
	case "pingpong", "chanpingpong": // same thing: unbuffered channels
		fn = func() { pingpong(n, 0) }
	case "bufpingpong":
		fn = func() { pingpong(n, 1) }
	default:
		fmt.Fprintln(os.Stderr, "unknown workload:", name)
		os.Exit(2)
	}
	t0 := time.Now() // carries a monotonic reading; time.Since uses it
	fn()
	wall := time.Since(t0).Seconds()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // Maxrss is in KB on Linux
	fmt.Printf("%s n=%d wall=%.6f ns_per_op=%.1f maxrss_kb=%d\n", name, n, wall, wall*1e9/float64(n), ru.Maxrss)
}
