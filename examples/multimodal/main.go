// Command multimodal is the Go twin of the Python SDK's multimodal example:
// a prompt made of a text block and an image block.
//
//	go run ./examples/multimodal [image.png]
//
// Without an argument it sends a tiny built-in PNG.
package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log"
	"os"

	"github.com/mobd-dev/mobd/rpc"
)

// onePixelPNG is a 1×1 transparent PNG.
const onePixelPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="

func main() {
	imageData := onePixelPNG
	if len(os.Args) > 1 {
		b, err := os.ReadFile(os.Args[1])
		if err != nil {
			log.Fatal(err)
		}
		imageData = base64.StdEncoding.EncodeToString(b)
	}

	ctx := context.Background()
	client, err := rpc.Connect(ctx, rpc.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	session, err := client.CreateSession(ctx, rpc.Blocks(
		rpc.TextBlock("What do you see in this image?"),
		rpc.ImageBlock("image/png", imageData),
	), rpc.SessionOptions{Model: "claude-sonnet-4-5"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(session.Text())
	if err := session.Archive(ctx); err != nil {
		log.Fatal(err)
	}
}
