/**
 * Walks a schema tree for documentation: every key path with its type, default, meaning and risk.
 * docs/configuration.md embeds `renderReferenceTable(configSchema)`, and a spec checks it is current.
 */
import { ListNode, MapNode, Node, NullableNode, ObjNode, type Fields } from './schema';

export interface KeyRow {
  /** `networks.<id>.mappings[].channel`: maps show their key placeholder, lists `[]`. */
  readonly path: string;
  readonly node: Node<unknown>;
  /** Leaves hold values; the others (sections, maps, lists) hold keys or items. */
  readonly leaf: boolean;
}

/** Every key under `root`, depth first, in declaration order; a map's entries and a list's items
 *  are not rows themselves, their keys are. */
export function keyRows(root: Node<unknown>, path = ''): KeyRow[] {
  const below = (node: Node<unknown>, at: string): KeyRow[] => {
    if (node instanceof ObjNode) {
      return Object.entries(node.fields as Fields).flatMap(([key, child]) => {
        const childPath = at ? `${at}.${key}` : key;
        return [{ path: childPath, node: child, leaf: isLeaf(child) }, ...below(child, childPath)];
      });
    }
    if (node instanceof MapNode) {
      return below(node.value as Node<unknown>, `${at}.${node.key.placeholder}`);
    }
    if (node instanceof ListNode) {
      return below(node.item as Node<unknown>, `${at}[]`);
    }
    return [];
  };
  return below(root, path);
}

function isLeaf(node: Node<unknown>): boolean {
  const inner = node instanceof NullableNode ? (node.inner as Node<unknown>) : node;
  return !(inner instanceof ObjNode || inner instanceof MapNode || inner instanceof ListNode);
}

export const leafPaths = (root: Node<unknown>): string[] =>
  keyRows(root).filter((r) => r.leaf).map((r) => r.path);

/** How the docs show a default: a literal value in code, a rule in words, or "required". */
export function defaultText(node: Node<unknown>): string {
  const p = node.presence;
  switch (p.kind) {
    case 'required':
      return '**required**';
    case 'derived':
      return p.text;
    case 'value':
      return p.text ?? `\`${JSON.stringify(p.value)}\``;
  }
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderReferenceTable(root: Node<unknown>): string {
  const lines = ['| Key | Type | Default | Meaning | Risk |', '| --- | --- | --- | --- | --- |'];
  for (const { path, node } of keyRows(root)) {
    const type = node instanceof ObjNode ? 'section' : node.typeText;
    const row = [`\`${path}\``, type, defaultText(node), node.docText, node.riskText ?? ''];
    lines.push(`| ${row.map(cell).join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
