import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';

/**
 * Which AWS API operations each Lambda function can send, read from the code rather than written
 * by hand: handler -> the event kinds it accepts -> the workflow modules those kinds run -> the
 * port methods they call (type checker) -> the adapter methods behind them -> the SDK commands,
 * waiters and paginators in those methods -> the IAM action (service prefix + operation).
 */

const root = resolve(__dirname, '..', '..');
const PORTS_FILE = join(root, 'shared', 'ports.ts');
const ADAPTERS_DIR = join(root, 'shared', 'aws');
const INVOCATION_SHELL = join(root, 'shared', 'workflows', 'invocation.ts');
const COMPOSITION = join(root, 'functions', 'wire.ts');
const PORT_INTERFACES = ['Inventory', 'Lifecycle', 'NodeShell', 'TargetGroups', 'HealQueue', 'AdminCredential'];

/** The IAM service prefix of each SDK client package warren uses. */
const IAM_PREFIX: Record<string, string> = {
  '@aws-sdk/client-ec2': 'ec2',
  '@aws-sdk/client-auto-scaling': 'autoscaling',
  '@aws-sdk/client-ssm': 'ssm',
  '@aws-sdk/client-elastic-load-balancing-v2': 'elasticloadbalancing',
  '@aws-sdk/client-sqs': 'sqs',
  '@aws-sdk/client-secrets-manager': 'secretsmanager',
  '@aws-sdk/client-lambda': 'lambda',
};

/**
 * SQS authorises its batch operations by their single counterparts: "you cannot set permissions
 * explicitly for SendMessageBatch, DeleteMessageBatch, or ChangeMessageVisibilityBatch".
 */
const BATCH_OPERATIONS: Record<string, string> = {
  'sqs:SendMessageBatch': 'sqs:SendMessage',
  'sqs:DeleteMessageBatch': 'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibilityBatch': 'sqs:ChangeMessageVisibility',
};
const iamAction = (operation: string) => BATCH_OPERATIONS[operation] ?? operation;

let cachedProgram: ts.Program | undefined;
function program(): ts.Program {
  if (!cachedProgram) {
    const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
    if (!config) throw new Error('tsconfig.json could not be read');
    const entries = ['shared/workflows/index.ts', COMPOSITION, ...ts.sys.readDirectory(ADAPTERS_DIR, ['.ts'])].map((file) => resolve(root, file));
    cachedProgram = ts.createProgram(entries, config.options);
  }
  return cachedProgram;
}

function visit(node: ts.Node, each: (node: ts.Node) => void): void {
  each(node);
  node.forEachChild((child) => visit(child, each));
}

/** The event kinds a handler passes to lambdaHandler([...]). */
export function acceptedKinds(handlerFile: string): string[] {
  const text = readFileSync(join(root, handlerFile), 'utf8');
  const list = /lambdaHandler\(\[([^\]]*)\]\)/.exec(text);
  if (!list) throw new Error(`${handlerFile} does not call lambdaHandler([...])`);
  return [...list[1]!.matchAll(/'([a-z][a-z-]*)'/g)].map((match) => match[1]!);
}

/** shared/workflows/index.ts: `case '<kind>': return fn(` and the module fn is imported from. */
function workflowModules(kinds: string[]): string[] {
  const indexFile = join(root, 'shared', 'workflows', 'index.ts');
  const text = readFileSync(indexFile, 'utf8');
  return kinds.map((kind) => {
    const fn = new RegExp(`case '${kind}':\\s*return (\\w+)\\(`).exec(text)?.[1];
    const from = fn && new RegExp(`import \\{ ${fn} \\} from '(\\.[^']+)'`).exec(text)?.[1];
    if (!from) throw new Error(`no workflow for event kind ${kind} in shared/workflows/index.ts`);
    return resolve(dirname(indexFile), `${from}.ts`);
  });
}

/** The modules a workflow runs: itself and what it imports, transitively, short of the adapters. */
function reachable(files: string[]): ts.SourceFile[] {
  const seen = new Map<string, ts.SourceFile>();
  const queue = [...files];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file) || file.startsWith(ADAPTERS_DIR)) continue;
    const source = program().getSourceFile(file);
    if (!source) throw new Error(`${file} is not part of the program`);
    seen.set(file, source);
    for (const statement of source.statements) {
      if (!ts.isImportDeclaration(statement) || statement.importClause?.isTypeOnly) continue;
      const specifier = (statement.moduleSpecifier as ts.StringLiteral).text;
      if (specifier.startsWith('.')) queue.push(resolve(dirname(file), `${specifier}.ts`));
    }
  }
  return [...seen.values()];
}

/**
 * The project's declarations a function can run from `entry` on, by the names its code uses: a finer
 * reach than whole modules, for an entry whose modules import helpers beside other workflows (the
 * triage workflow takes the SQS record helpers of the invocation shell, not its workflows).
 */
function declarationsReachedFrom(entry: ts.Node): ts.Node[] {
  const checker = program().getTypeChecker();
  const shared = join(root, 'shared');
  const seen = new Set<ts.Node>([entry]);
  const queue = [entry];
  while (queue.length > 0) {
    visit(queue.pop()!, (node) => {
      if (!ts.isIdentifier(node)) return;
      let symbol = checker.getSymbolAtLocation(node);
      if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
      for (const declaration of symbol?.declarations ?? []) {
        const file = resolve(declaration.getSourceFile().fileName);
        if (seen.has(declaration) || !file.startsWith(shared) || file.startsWith(ADAPTERS_DIR)) continue;
        if (ts.isFunctionDeclaration(declaration) || ts.isVariableDeclaration(declaration) || ts.isMethodDeclaration(declaration)) {
          seen.add(declaration);
          queue.push(declaration);
        }
      }
    });
  }
  return [...seen];
}

/** A handler built by another entry of functions/wire.ts than lambdaHandler: `export const handler = entry()`. */
function entryDeclaration(handlerFile: string): ts.Node {
  const text = readFileSync(join(root, handlerFile), 'utf8');
  const name = /export const handler = (\w+)\(/.exec(text)?.[1];
  const lambda = program().getSourceFile(COMPOSITION);
  const entry = lambda?.statements.find((statement) => ts.isFunctionDeclaration(statement) && statement.name?.text === name);
  if (!entry) throw new Error(`${handlerFile} builds its handler with neither lambdaHandler([...]) nor another entry of functions/wire.ts`);
  return entry;
}

/** Port methods (e.g. "Inventory.describeGroup") called in the given modules. */
export function portCalls(files: string[]): Set<string> {
  return portCallsIn(reachable(files));
}

function portCallsIn(nodes: ts.Node[]): Set<string> {
  const checker = program().getTypeChecker();
  const calls = new Set<string>();
  for (const source of nodes) {
    visit(source, (node) => {
      if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression)) return;
      const declaration = checker.getSymbolAtLocation(node.expression.name)?.declarations?.[0];
      const owner = declaration?.parent;
      if (!owner || !ts.isInterfaceDeclaration(owner) || resolve(declaration.getSourceFile().fileName) !== PORTS_FILE) return;
      if (PORT_INTERFACES.includes(owner.name.text)) calls.add(`${owner.name.text}.${node.expression.name.text}`);
    });
  }
  return calls;
}

interface AdapterClass {
  name: string;
  abstract: boolean;
  base?: string;
  implements: string[];
  methods: Map<string, ts.Node>;
  /** imported identifier -> module it comes from */
  imports: Map<string, string>;
}

function adapterClasses(): Map<string, AdapterClass> {
  const classes = new Map<string, AdapterClass>();
  for (const source of program().getSourceFiles()) {
    if (!resolve(source.fileName).startsWith(ADAPTERS_DIR)) continue;
    const imports = new Map<string, string>();
    for (const statement of source.statements) {
      if (!ts.isImportDeclaration(statement)) continue;
      const bindings = statement.importClause?.namedBindings;
      if (bindings && ts.isNamedImports(bindings)) {
        for (const element of bindings.elements) imports.set(element.name.text, (statement.moduleSpecifier as ts.StringLiteral).text);
      }
    }
    for (const statement of source.statements) {
      if (!ts.isClassDeclaration(statement) || !statement.name) continue;
      const heritage = (kind: ts.SyntaxKind) =>
        statement.heritageClauses?.filter((clause) => clause.token === kind).flatMap((clause) => clause.types.map((type) => type.expression.getText(source))) ??
        [];
      const methods = new Map<string, ts.Node>();
      for (const member of statement.members) {
        if ((ts.isMethodDeclaration(member) || ts.isConstructorDeclaration(member)) && member.body) {
          methods.set(member.name ? member.name.getText(source) : 'constructor', member.body);
        }
      }
      classes.set(statement.name.text, {
        name: statement.name.text,
        abstract: statement.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.AbstractKeyword) ?? false,
        base: heritage(ts.SyntaxKind.ExtendsKeyword)[0],
        implements: heritage(ts.SyntaxKind.ImplementsKeyword),
        methods,
        imports,
      });
    }
  }
  return classes;
}

/** The SDK command a waiter or paginator of an SDK package sends, read from the package's own source. */
function commandsOfHelper(pkg: string, helper: string): string[] {
  const base = join(root, 'node_modules', pkg, 'dist-es');
  const file = helper.startsWith('paginate')
    ? join(base, 'pagination', `${helper.slice('paginate'.length)}Paginator.js`)
    : join(base, 'waiters', `${helper.replace(/^waitUntil/, 'waitFor')}.js`);
  return [...readFileSync(file, 'utf8').matchAll(/\b(\w+)Command\b/g)].map((match) => match[1]!);
}

/** IAM actions (e.g. "ssm:SendCommand") one adapter method sends, following this.other() calls through the class chain. */
function actionsOfMethod(classes: Map<string, AdapterClass>, concrete: AdapterClass, method: string, seen = new Set<string>()): Set<string> {
  const actions = new Set<string>();
  if (seen.has(method)) return actions;
  seen.add(method);
  let owner: AdapterClass | undefined = concrete;
  while (owner && !owner.methods.has(method)) owner = owner.base ? classes.get(owner.base) : undefined;
  if (!owner) throw new Error(`${concrete.name}.${method} not found`);
  const declaring = owner;
  visit(declaring.methods.get(method)!, (node) => {
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text.endsWith('Command')) {
      const pkg = declaring.imports.get(node.expression.text);
      if (pkg && IAM_PREFIX[pkg]) actions.add(iamAction(`${IAM_PREFIX[pkg]}:${node.expression.text.replace(/Command$/, '')}`));
    }
    // a waiter counts wherever it is named, called here or handed to a helper as an argument
    if (ts.isIdentifier(node) && /^(waitUntil|paginate)/.test(node.text)) {
      const pkg = declaring.imports.get(node.text);
      if (pkg && IAM_PREFIX[pkg]) for (const operation of commandsOfHelper(pkg, node.text)) actions.add(`${IAM_PREFIX[pkg]}:${operation}`);
    }
    if (!ts.isCallExpression(node)) return;
    const callee = node.expression;
    if (ts.isPropertyAccessExpression(callee) && callee.expression.kind === ts.SyntaxKind.ThisKeyword) {
      const name = callee.name.text;
      let candidate: AdapterClass | undefined = concrete;
      while (candidate && !candidate.methods.has(name)) candidate = candidate.base ? classes.get(candidate.base) : undefined;
      if (candidate) for (const action of actionsOfMethod(classes, concrete, name, seen)) actions.add(action);
    }
  });
  return actions;
}

/** The concrete adapter class in shared/aws that implements a port interface (directly or through its base). */
function adapterFor(classes: Map<string, AdapterClass>, port: string): AdapterClass {
  const implementsPort = (candidate: AdapterClass | undefined): boolean =>
    !!candidate && (candidate.implements.includes(port) || implementsPort(candidate.base ? classes.get(candidate.base) : undefined));
  const found = [...classes.values()].filter((candidate) => !candidate.abstract && implementsPort(candidate));
  if (found.length !== 1) throw new Error(`expected one AWS adapter for ${port}, found ${found.map((c) => c.name).join(', ') || 'none'}`);
  return found[0]!;
}

export interface FunctionNeeds {
  kinds: string[];
  portCalls: string[];
  /** IAM actions, e.g. "autoscaling:CompleteLifecycleAction" */
  actions: string[];
  /** which port call needs which action, for failure messages */
  byPortCall: Record<string, string[]>;
}

/** Everything a function's handler can send to AWS, from its source. */
export function functionNeeds(handlerFile: string): FunctionNeeds {
  const byKinds = /lambdaHandler\(\[/.test(readFileSync(join(root, handlerFile), 'utf8'));
  const kinds = byKinds ? acceptedKinds(handlerFile) : [];
  // every lambdaHandler runs its workflows inside the invocation shell (its own calls only: it imports every workflow)
  const shell = () => portCallsIn([program().getSourceFile(INVOCATION_SHELL)!]);
  const calls = [
    ...(byKinds ? new Set([...portCalls(workflowModules(kinds)), ...shell()]) : portCallsIn(declarationsReachedFrom(entryDeclaration(handlerFile)))),
  ].sort();
  const classes = adapterClasses();
  const byPortCall: Record<string, string[]> = {};
  for (const call of calls) {
    const [port, method] = call.split('.') as [string, string];
    byPortCall[call] = [...actionsOfMethod(classes, adapterFor(classes, port), method)].sort();
  }
  return { kinds, portCalls: calls, actions: [...new Set(Object.values(byPortCall).flat())].sort(), byPortCall };
}

/** Every IAM action any adapter in shared/aws can send (each `new XxxCommand(`, waiter and paginator). */
export function everyAdapterAction(): string[] {
  const classes = adapterClasses();
  const actions = new Set<string>();
  for (const adapter of classes.values()) {
    if (adapter.abstract) continue;
    let owner: AdapterClass | undefined = adapter;
    while (owner) {
      for (const method of owner.methods.keys()) for (const action of actionsOfMethod(classes, adapter, method)) actions.add(action);
      owner = owner.base ? classes.get(owner.base) : undefined;
    }
  }
  return [...actions].sort();
}
