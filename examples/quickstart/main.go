// Command quickstart sends its command-line arguments as a prompt to a
// Meerkat runtime, streams the answer as it is generated, then prints the
// token usage.
//
//	go run ./examples/quickstart What is the capital of France?
//
// The runtime is found the way the SDK always finds it: MEERKAT_BIN_PATH,
// then rkat-rpc on PATH, then a verified download. `make run` points
// MEERKAT_BIN_PATH at the simulated runtime, rkat-sim.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mobd-dev/mobd/rpc"
)

func main() {
	prompt := strings.TrimSpace(strings.Join(os.Args[1:], " "))
	if prompt == "" {
		fmt.Fprintln(os.Stderr, "usage: quickstart PROMPT...")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, prompt); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, prompt string) error {
	client, err := rpc.Connect(ctx, rpc.Options{})
	if err != nil {
		return err
	}
	defer client.Close()

	stream := client.CreateSessionStreaming(ctx, rpc.Text(prompt), rpc.SessionOptions{})
	for ev, err := range stream.All() {
		if err != nil {
			return err
		}
		if d, ok := ev.(*rpc.TextDelta); ok {
			fmt.Print(d.Delta)
		}
	}
	fmt.Println()
	res, err := stream.Result()
	if err != nil {
		return err
	}
	fmt.Printf("\n[session %s · %d input + %d output = %d tokens]\n",
		res.SessionID, res.Usage.InputTokens, res.Usage.OutputTokens, res.Usage.Total())
	return nil
}
