import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import GithubSlugger from 'github-slugger';

/*
 * The README and docs/ link to each other and into the code: every relative link must reach a file of
 * the repository, and every #anchor a heading of the file it names (GitHub's own slugs, github-slugger).
 */
const ROOT = join(__dirname, '..', '..');
const pages = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The anchors a markdown page has: its headings' slugs (numbered on repeats, as GitHub does) and explicit ids. */
function anchorsOf(file: string): Set<string> {
  const slugger = new GithubSlugger();
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  const anchors = new Set<string>();
  for (const [, heading] of text.matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm))
    anchors.add(slugger.slug(heading!.replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')));
  for (const [, id] of text.matchAll(/<a (?:id|name)="([^"]+)"/g)) anchors.add(id!);
  return anchors;
}

/** The relative links of a markdown page, outside code blocks and code spans: [text](target) and ![alt](target). */
function linksOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
    .replace(/^```[\s\S]*?^```/gm, '')
    .replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!).filter((target) => !/^[a-z]+:/i.test(target));
}

describe('links of the README and docs/', () => {
  it('finds the pages and their links', () => {
    expect(pages.length).toBeGreaterThan(5);
    expect(linksOf(join(ROOT, 'README.md')).length).toBeGreaterThan(5);
  });

  it.each(pages)('%s: every relative link reaches a file, and every anchor a heading', (page) => {
    const from = join(ROOT, page);
    const broken: string[] = [];
    for (const link of linksOf(from)) {
      const [path, anchor] = link.split('#') as [string, string | undefined];
      const target = path === '' ? from : resolve(dirname(from), decodeURIComponent(path));
      if (!target.startsWith(ROOT) || !existsSync(target)) {
        broken.push(`${link}: no such file`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md') && statSync(target).isFile() && !anchorsOf(target).has(anchor)) {
        broken.push(`${link}: no heading #${anchor} in ${relative(ROOT, target)}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('tells a heading that is there from one that is not', () => {
    const anchors = anchorsOf(join(ROOT, 'docs', 'deploy.md'));

    expect(anchors.has('pause-warren-manual-surgery')).toBe(true);
    expect(anchors.has('pause-warren')).toBe(false);
  });
});
