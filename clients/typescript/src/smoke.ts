// Smoke program for the generated TypeScript client: ping a live v1 registry, list a
// repository's tags and read an image's ancestry, and compare every answer with the values
// clients/build.py seeded (passed in REGV1_* environment variables). Exits 1 on any mismatch.
import { createClient, createConfig } from './client/client/index.js';
import { getImageAncestry, listTags, ping, type TagList, type TagMap } from './client/index.js';

class Mismatch extends Error {}

type Expected = {
  url: string;
  namespace: string;
  repository: string;
  tag: string;
  imageId: string;
  ancestry: string[];
};

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Mismatch(`${name} is not set`);
  }
  return value;
}

function expectedFromEnv(): Expected {
  return {
    url: env('REGV1_URL'),
    namespace: env('REGV1_NAMESPACE'),
    repository: env('REGV1_REPOSITORY'),
    tag: env('REGV1_TAG'),
    imageId: env('REGV1_IMAGE_ID'),
    ancestry: env('REGV1_ANCESTRY').split(','),
  };
}

function check(what: string, got: unknown, want: unknown): void {
  const gotText = JSON.stringify(got);
  const wantText = JSON.stringify(want);
  if (gotText !== wantText) {
    throw new Mismatch(`${what}: got ${gotText}, want ${wantText}`);
  }
}

// Registries answer a tag map; Docker's index hosts answered [{layer, name}] with short ids.
function tagTarget(tags: TagMap | TagList, tag: string): string | undefined {
  if (Array.isArray(tags)) {
    return tags.find((entry) => entry.name === tag)?.layer;
  }
  return tags[tag];
}

async function main(): Promise<void> {
  const want = expectedFromEnv();
  // throwOnError: an error status rejects with the parsed error body, so every
  // `data` below is the documented success shape.
  const client = createClient(createConfig({ baseUrl: want.url, throwOnError: true }));

  const pinged = await ping({ client, throwOnError: true });
  console.log(
    `ping: ${pinged.response.status} body=${JSON.stringify(pinged.data)} ` +
      `standalone=${pinged.response.headers.get('X-Docker-Registry-Standalone')}`,
  );
  check('ping status', pinged.response.status, 200);

  const path = { namespace: want.namespace, repository: want.repository };
  const tags = await listTags({ client, path, throwOnError: true });
  console.log(`tags: ${tags.response.status} ${JSON.stringify(tags.data)}`);
  const target = tagTarget(tags.data, want.tag) ?? '';
  if (target.length < 8 || !want.imageId.startsWith(target)) {
    throw new Mismatch(`tags: ${want.tag} -> ${JSON.stringify(target)}, want ${want.imageId}`);
  }

  const image = { image_id: want.imageId };
  const ancestry = await getImageAncestry({ client, path: image, throwOnError: true });
  console.log(`ancestry: ${ancestry.response.status} ${JSON.stringify(ancestry.data)}`);
  check('ancestry', ancestry.data, want.ancestry);

  console.log(`smoke ok: ${want.tag} -> ${want.imageId}, ${want.ancestry.length} images`);
}

main().catch((error: unknown) => {
  const reason = error instanceof Error ? error.message : JSON.stringify(error);
  console.log(`smoke FAILED: ${reason}`);
  process.exitCode = 1;
});
