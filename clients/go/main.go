// Command smoke checks the Go client generated from openapi/registry-v1.yaml against a live
// v1 registry: it pings it, lists a repository's tags and reads an image's ancestry, compares
// every answer with the values clients/build.py seeded (REGV1_* environment variables) and
// exits 1 on any mismatch.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	regv1 "example.com/docker-registry-v1/goclient"
	// The OCI Distribution client: compiled with this program, not run (no v2 registry here).
	_ "example.com/docker-registry-v1/ociclient"
)

type expected struct {
	url        *url.URL
	namespace  string
	repository string
	tag        string
	imageID    string
	ancestry   []string
}

func main() {
	if err := run(); err != nil {
		fmt.Printf("smoke FAILED: %v\n", err)
		os.Exit(1)
	}
}

func env(name string) (string, error) {
	value := os.Getenv(name)
	if value == "" {
		return "", fmt.Errorf("%s is not set", name)
	}
	return value, nil
}

func expectedFromEnv() (expected, error) {
	var want expected
	values := map[string]*string{
		"REGV1_NAMESPACE":  &want.namespace,
		"REGV1_REPOSITORY": &want.repository,
		"REGV1_TAG":        &want.tag,
		"REGV1_IMAGE_ID":   &want.imageID,
	}
	for name, target := range values {
		value, err := env(name)
		if err != nil {
			return want, err
		}
		*target = value
	}
	raw, err := env("REGV1_URL")
	if err != nil {
		return want, err
	}
	if want.url, err = url.Parse(raw); err != nil {
		return want, fmt.Errorf("REGV1_URL: %w", err)
	}
	ancestry, err := env("REGV1_ANCESTRY")
	if err != nil {
		return want, err
	}
	want.ancestry = strings.Split(ancestry, ",")
	return want, nil
}

// describe shows a failed call: status and body when the server answered, else the error.
func describe(err error) error {
	var apiErr *regv1.GenericOpenAPIError
	if errors.As(err, &apiErr) {
		return fmt.Errorf("%w (body %s)", err, apiErr.Body())
	}
	return err
}

// tagTarget reads a tag from either shape of the answer: a registry's tag map or the
// index hosts' [{layer, name}] list with short ids.
func tagTarget(tags *regv1.ListTags200Response, tag string) string {
	if tags.MapmapOfStringstring != nil {
		return (*tags.MapmapOfStringstring)[tag]
	}
	if tags.ArrayOfTagListEntry != nil {
		for _, entry := range *tags.ArrayOfTagListEntry {
			if entry.Name == tag {
				return entry.Layer
			}
		}
	}
	return ""
}

// checkPing requires a 200 from GET /v1/_ping whose body decodes. PingBody is any JSON
// value, so the generated client hands back an interface{} (the reference server's `{}`).
func checkPing(ctx context.Context, api *regv1.RegistryAPIService) error {
	body, resp, err := api.Ping(ctx).Execute()
	if err != nil {
		return fmt.Errorf("ping: %w", describe(err))
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("ping: status %d, want 200", resp.StatusCode)
	}
	shown, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	fmt.Printf("ping: %d body=%s standalone=%s\n",
		resp.StatusCode, shown, resp.Header.Get("X-Docker-Registry-Standalone"))
	return nil
}

func run() error {
	want, err := expectedFromEnv()
	if err != nil {
		return err
	}
	// The spec's first server is "{scheme}://{host}"; fill its variables instead of
	// replacing the server list.
	ctx := context.WithValue(context.Background(), regv1.ContextServerVariables, map[string]string{
		"scheme": want.url.Scheme,
		"host":   want.url.Host,
	})
	api := regv1.NewAPIClient(regv1.NewConfiguration()).RegistryAPI

	if err := checkPing(ctx, api); err != nil {
		return err
	}

	tags, resp, err := api.ListTags(ctx, want.namespace, want.repository).Execute()
	if err != nil {
		return fmt.Errorf("tags: %w", describe(err))
	}
	shown, err := json.Marshal(tags)
	if err != nil {
		return fmt.Errorf("tags: %w", err)
	}
	fmt.Printf("tags: %d %s\n", resp.StatusCode, shown)
	target := tagTarget(tags, want.tag)
	if len(target) < 8 || !strings.HasPrefix(want.imageID, target) {
		return fmt.Errorf("tags: %s -> %q, want %s", want.tag, target, want.imageID)
	}

	ancestry, resp, err := api.GetImageAncestry(ctx, want.imageID).Execute()
	if err != nil {
		return fmt.Errorf("ancestry: %w", describe(err))
	}
	fmt.Printf("ancestry: %d %v\n", resp.StatusCode, ancestry)
	if !slices.Equal(ancestry, want.ancestry) {
		return fmt.Errorf("ancestry: got %v, want %v", ancestry, want.ancestry)
	}

	fmt.Printf("smoke ok: %s -> %s, %d images\n", want.tag, want.imageID, len(want.ancestry))
	return nil
}
