//! The documentation against the repository: README.md and every Markdown file under docs/ may
//! only name code, files and headings that exist, and no document or committed result may hold a
//! path of the machine it was written on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's crates: the name a path starts with, and the folder of its sources.
const CRATES: [(&str, &str); 4] = [
    ("dcrobust", "src"),
    ("dcrobust_attacks", "attacks/src"),
    ("dcrobust_corruptions", "corruptions/src"),
    ("dcrobust_reports", "reports/src"),
];

/// The repository's own top-level folders and files: a backticked path starting with one of them
/// names a file of this repository (`runs/...`, `examples/...` and the like are outputs).
const TOP_LEVEL: [&str; 12] = [
    "src",
    "attacks",
    "corruptions",
    "reports",
    "tests",
    "benches",
    "docs",
    ".ci",
    "build.rs",
    "Cargo.toml",
    "Cargo.lock",
    "README.md",
];

/// Every file under `dir` (relative to the root) whose name ends in `ext`, skipping build output.
fn files_under(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root().join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if e.file_name() != "target" {
                    stack.push(p);
                }
            } else if p.to_string_lossy().ends_with(ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// README.md and every Markdown file under docs/: (path relative to the root, text).
fn documents() -> Vec<(String, String)> {
    let mut paths = vec![root().join("README.md")];
    paths.extend(files_under("docs", ".md"));
    paths
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The text outside fenced code blocks, line by line (fenced lines become empty, so line numbers
/// stay those of the file).
fn prose(text: &str) -> Vec<String> {
    let mut fenced = false;
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return String::new();
            }
            if fenced {
                String::new()
            } else {
                l.to_string()
            }
        })
        .collect()
}

/// The inline code spans of `text` outside fenced blocks, with the line each starts on. A span may
/// continue over a line break (Markdown reads the break as a space).
fn code_spans(text: &str) -> Vec<(usize, String)> {
    let joined = prose(text).join("\n");
    let chars: Vec<char> = joined.chars().collect();
    let mut spans = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        if chars[i] == '\n' {
            line += 1;
        }
        if chars[i] != '`' {
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&c| c == '`').count();
        let start = i + run;
        let mut j = start;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let r = chars[j..].iter().take_while(|&&c| c == '`').count();
                if r == run {
                    close = Some(j);
                    break;
                }
                j += r;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => {
                let s: String = chars[start..end].iter().collect();
                spans.push((line, s.replace('\n', " ").trim().to_string()));
                line += chars[start..end].iter().filter(|&&c| c == '\n').count();
                i = end + run;
            }
            None => i = start,
        }
    }
    spans
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The segments of a backticked Rust path (`a::b::c`, `a::b!`, `a::b()`, `a::prefix_*`), or
/// `None` when the span is not one.
fn rust_path(span: &str) -> Option<Vec<String>> {
    let s = span.trim_end_matches("()").trim_end_matches('!');
    let segs: Vec<&str> = s.split("::").collect();
    if segs.len() < 2 {
        return None;
    }
    let (last, init) = segs.split_last().unwrap();
    let last_ok = is_ident(last) || (last.ends_with('*') && is_ident(last.trim_end_matches('*')));
    (last_ok && init.iter().all(|s| is_ident(s)))
        .then(|| segs.iter().map(|s| s.to_string()).collect())
}

/// Whether `text` has `word` at `at` with no identifier character on either side.
fn whole_word(text: &str, at: usize, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let before = text[..at].chars().next_back().is_none_or(|c| !ident(c));
    let after = text[at + word.len()..]
        .chars()
        .next()
        .is_none_or(|c| !ident(c));
    before && after
}

/// The names `text` defines with one of `keywords` (`fn NAME`, `struct NAME`, ...).
fn defined(text: &str, keywords: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for kw in keywords {
        let pat = format!("{kw} ");
        let mut from = 0;
        while let Some(k) = text[from..].find(&pat) {
            let at = from + k;
            from = at + pat.len();
            let kw_alone = text[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            if !kw_alone {
                continue;
            }
            let name: String = text[from..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

const ITEMS: [&str; 10] = [
    "fn",
    "struct",
    "enum",
    "trait",
    "const",
    "static",
    "type",
    "mod",
    "union",
    "macro_rules!",
];
const TYPES: [&str; 5] = ["struct", "enum", "trait", "union", "type"];

/// The variants of `enum name` in `text` (lines at the enum's top level that start with a name).
fn variants(text: &str, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let pat = format!("enum {name}");
    let mut from = 0;
    while let Some(k) = text[from..].find(&pat) {
        let at = from + k + 5;
        from = at;
        if !whole_word(text, at, name) {
            continue;
        }
        let Some(open) = text[at..].find('{') else {
            continue;
        };
        let mut depth = 0;
        let mut line = String::new();
        for c in text[at + open..].chars() {
            match c {
                '{' | '(' => depth += 1,
                '}' | ')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            if c == '\n' {
                line.clear();
            } else if depth == 1 && c != '{' {
                line.push(c);
                let t = line.trim_start();
                if !t.starts_with("//") && !t.starts_with('#') {
                    let v: String = t
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if is_ident(&v) && t.len() > v.len() {
                        out.insert(v);
                    }
                }
            }
        }
    }
    out
}

/// The identifiers of `text`'s `pub use` statements, and the modules it re-exports whole
/// (`pub use m::*`).
fn reexports(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut names, mut globs) = (BTreeSet::new(), BTreeSet::new());
    let mut from = 0;
    while let Some(k) = text[from..].find("pub use ") {
        let at = from + k + "pub use ".len();
        let end = text[at..].find(';').map_or(text.len(), |e| at + e);
        let stmt = &text[at..end];
        from = end;
        if let Some(m) = stmt.strip_suffix("::*") {
            globs.insert(m.rsplit("::").next().unwrap().trim().to_string());
        }
        for tok in stmt.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if is_ident(tok) {
                names.insert(tok.to_string());
            }
        }
    }
    (names, globs)
}

/// The workspace's module tree, read from the file layout: per (crate, module path), the files
/// that make up the module.
struct Code {
    modules: BTreeMap<(String, Vec<String>), Vec<PathBuf>>,
    texts: BTreeMap<PathBuf, String>,
    /// Crate names a path may start with that are not this workspace's (from Cargo.lock).
    external: BTreeSet<String>,
    /// Every `.rs` file of the repository, relative to the root.
    rust_files: Vec<String>,
}

impl Code {
    fn read() -> Code {
        let mut modules: BTreeMap<(String, Vec<String>), Vec<PathBuf>> = BTreeMap::new();
        let mut texts = BTreeMap::new();
        for (krate, dir) in CRATES {
            let base = root().join(dir);
            for f in files_under(dir, ".rs") {
                let rel: Vec<String> = f
                    .strip_prefix(&base)
                    .unwrap()
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                let mut path: Vec<String> = rel.clone();
                let file = path.pop().unwrap();
                match file.as_str() {
                    "lib.rs" | "main.rs" if path.is_empty() => {}
                    "mod.rs" => {}
                    f => path.push(f.trim_end_matches(".rs").to_string()),
                }
                texts.insert(f.clone(), std::fs::read_to_string(&f).unwrap());
                modules
                    .entry((krate.to_string(), path))
                    .or_default()
                    .push(f);
            }
        }
        let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
        let mut external: BTreeSet<String> = lock
            .lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .map(|n| n.trim_end_matches('"').replace('-', "_"))
            .filter(|n| !CRATES.iter().any(|(c, _)| c == n))
            .collect();
        external.extend(["std", "core", "alloc"].map(String::from));
        let rust_files = TOP_LEVEL
            .iter()
            .flat_map(|d| files_under(d, ".rs"))
            .map(|p| {
                p.strip_prefix(root())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        Code {
            modules,
            texts,
            external,
            rust_files,
        }
    }

    /// The files of a module, with those of the modules it re-exports whole.
    fn files(&self, module: &(String, Vec<String>)) -> Vec<&PathBuf> {
        let mut out: Vec<&PathBuf> = self.modules.get(module).into_iter().flatten().collect();
        for f in out.clone() {
            for g in reexports(&self.texts[f]).1 {
                let mut child = module.clone();
                child.1.push(g);
                out.extend(self.modules.get(&child).into_iter().flatten());
            }
        }
        out
    }

    fn child(&self, module: &(String, Vec<String>), name: &str) -> Option<(String, Vec<String>)> {
        let mut c = module.clone();
        c.1.push(name.to_string());
        self.modules.contains_key(&c).then_some(c)
    }

    /// Whether `member` is a method, associated item or variant of the type `ty` defined in
    /// `module`'s crate: defined in a file that defines `ty` or implements something for it.
    fn has_member(&self, krate: &str, ty: &str, member: &str) -> bool {
        self.modules
            .iter()
            .filter(|((k, _), _)| k == krate)
            .flat_map(|(_, fs)| fs)
            .map(|f| &self.texts[f])
            .filter(|t| {
                defined(t, &TYPES).contains(ty)
                    || t.lines().any(|l| {
                        l.trim_start().starts_with("impl")
                            && l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                                .any(|w| w == ty)
                    })
            })
            .any(|t| {
                defined(t, &["fn", "const", "type", "static"]).contains(member)
                    || variants(t, ty).contains(member)
            })
    }

    /// Whether the rest of a path, `segs`, names something inside `module`.
    fn walk(&self, module: &(String, Vec<String>), segs: &[String]) -> bool {
        let Some((name, rest)) = segs.split_first() else {
            return true;
        };
        let files = self.files(module);
        let items = |kws: &[&str]| -> BTreeSet<String> {
            files
                .iter()
                .flat_map(|f| defined(&self.texts[*f], kws))
                .collect()
        };
        if rest.is_empty() {
            let mut known = items(&ITEMS);
            known.extend(files.iter().flat_map(|f| reexports(&self.texts[*f]).0));
            if let Some(prefix) = name.strip_suffix('*') {
                return known.iter().any(|k| k.starts_with(prefix));
            }
            return known.contains(name.as_str()) || self.child(module, name).is_some();
        }
        if let Some(c) = self.child(module, name) {
            return self.walk(&c, rest);
        }
        if items(&["mod"]).contains(name.as_str()) {
            // An inline module: its items are in the same files.
            return self.walk(module, rest);
        }
        rest.len() == 1 && items(&TYPES).contains(name.as_str()) && {
            self.has_member(&module.0, name, &rest[0])
        }
    }

    /// `Ok` when `segs` names an item of this workspace, `Err` with the reason when it names none;
    /// a path into another crate (Cargo.lock's, or std) is not checked and counts as `Ok`.
    fn resolve(&self, segs: &[String]) -> Result<(), String> {
        let first = segs[0].as_str();
        let roots: Vec<(String, Vec<String>)> = CRATES
            .iter()
            .filter(|(c, _)| first == "crate" || *c == first)
            .map(|(c, _)| (c.to_string(), Vec::new()))
            .collect();
        if !roots.is_empty() {
            return if roots.iter().any(|r| self.walk(r, &segs[1..])) {
                Ok(())
            } else {
                Err(format!("nothing named {} in {first}", segs[1..].join("::")))
            };
        }
        // A path relative to some module: it starts at any module, or any type, of that name.
        let starts: Vec<&(String, Vec<String>)> = self
            .modules
            .keys()
            .filter(|(_, p)| p.last().map(String::as_str) == Some(first))
            .collect();
        if starts.iter().any(|m| self.walk(m, &segs[1..])) {
            return Ok(());
        }
        let type_homes: Vec<&String> = self
            .modules
            .iter()
            .filter(|(_, fs)| {
                fs.iter()
                    .any(|f| defined(&self.texts[f], &TYPES).contains(first))
            })
            .map(|((k, _), _)| k)
            .collect();
        if segs.len() == 2
            && type_homes
                .iter()
                .any(|k| self.has_member(k, first, &segs[1]))
        {
            return Ok(());
        }
        if starts.is_empty() && type_homes.is_empty() {
            return if self.external.contains(first) {
                Ok(())
            } else {
                Err(format!("no module, type or crate named {first}"))
            };
        }
        Err(format!(
            "{first} exists, but nothing named {} in it",
            segs[1..].join("::")
        ))
    }

    /// Whether a `.rs` path (possibly relative to a crate's sources, as in
    /// `kernels/fused/tail.rs`) is the tail of some file of the repository.
    fn rust_file_exists(&self, p: &str) -> bool {
        self.rust_files
            .iter()
            .any(|f| f == p || f.ends_with(&format!("/{p}")))
    }
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of the headings of a Markdown file.
fn anchors(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    prose(&text)
        .iter()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// Checks a path to a file of the repository, relative to `base` (the root for backticked paths,
/// the document's folder for links), with an optional `#anchor` into a Markdown file.
fn check_target(base: &Path, target: &str) -> Result<(), String> {
    let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
    let path = base.join(file);
    if !path.exists() {
        return Err(format!("{} does not exist", path.display()));
    }
    if !anchor.is_empty() && file.ends_with(".md") && !anchors(&path).contains(anchor) {
        return Err(format!("{file} has no heading #{anchor}"));
    }
    Ok(())
}

/// A backticked span that names a file of this repository: path characters only, no placeholder
/// (`<name>`, `NAME`, `*`), and either a path under one of [`TOP_LEVEL`] or a `.rs` file.
fn repository_path(span: &str) -> Option<&str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "_.-/#".contains(c);
    if span.is_empty() || !span.chars().all(ok) || span.starts_with('/') {
        return None;
    }
    let file = span.split('#').next().unwrap();
    let segs: Vec<&str> = file.split('/').filter(|s| !s.is_empty()).collect();
    let placeholder = segs
        .iter()
        .any(|s| s.len() > 1 && s.chars().all(|c| c.is_ascii_uppercase()));
    let top = segs.first().is_some_and(|s| TOP_LEVEL.contains(s))
        && (file.contains('/') || segs.len() == 1);
    (!placeholder && (top || file.ends_with(".rs"))).then_some(span)
}

/// Every problem in one document: backticked Rust paths and repository paths that name nothing,
/// and links to files or headings that do not exist.
fn problems(code: &Code, doc: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (line, span) in code_spans(text) {
        if let Some(segs) = rust_path(&span) {
            if let Err(why) = code.resolve(&segs) {
                out.push(format!("{doc}:{line}: `{span}`: {why}"));
            }
        } else if let Some(p) = repository_path(&span) {
            let top = TOP_LEVEL.contains(&p.split('/').next().unwrap());
            let found = if top {
                check_target(root(), p)
            } else if code.rust_file_exists(p) {
                Ok(())
            } else {
                Err("no such file in the repository".to_string())
            };
            if let Err(why) = found {
                out.push(format!("{doc}:{line}: `{span}`: {why}"));
            }
        }
    }
    let dir = root().join(doc).parent().unwrap().to_path_buf();
    for (i, l) in prose(text).iter().enumerate() {
        let mut rest = l.as_str();
        while let Some(k) = rest.find("](") {
            let after = &rest[k + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or("");
            rest = &after[end..];
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let found = match target.strip_prefix('#') {
                Some(a) => anchors(&root().join(doc))
                    .contains(a)
                    .then_some(())
                    .ok_or_else(|| format!("no heading #{a}")),
                None => check_target(&dir, target),
            };
            if let Err(why) = found {
                out.push(format!("{doc}:{}: link ({target}): {why}", i + 1));
            }
        }
    }
    out
}

/// Oracle: the repository itself. A backticked `a::b::c` in README.md or docs/**/*.md must name
/// an item (fn, struct, enum, trait, const, static, type, mod, macro), an enum variant or a
/// method that the named module's source files define or re-export, read from `src/`,
/// `attacks/src/`, `corruptions/src/` and `reports/src/` (a path may start with a crate name, with
/// any module or type, or with a crate of Cargo.lock, which is not checked); a backticked
/// repository path (`src/...`, `attacks/src/x.rs`, or a `.rs` file relative to a crate's sources)
/// must exist; a relative link must point at an existing file, and its `#anchor` at a heading.
#[test]
fn docs_name_only_code_and_files_that_exist() {
    let code = Code::read();
    let docs = documents();
    assert!(docs.len() > 5, "README.md and docs/*.md: {}", docs.len());
    let problems: Vec<String> = docs
        .iter()
        .flat_map(|(doc, text)| problems(&code, doc, text))
        .collect();
    assert!(
        problems.is_empty(),
        "stale names in the documentation:\n{}",
        problems.join("\n")
    );
}

/// Oracle: names known to be stale (they existed once, or never) and names known to exist. The
/// checker rejects the first and accepts the second, so the test above can fail.
#[test]
fn the_checker_rejects_invented_names() {
    let code = Code::read();
    let bad = "`models::pool::max_pool2_candle`, `models::use_candle_kernels`, \
               `kernels::max_pool::no_such_kernel`, `dcrobust_reports::no_such_fn`, \
               `Mode::NoSuchVariant`, `src/suite/adversarial.rs`, `attacks/src/no_such.rs`, \
               `no_such_module.rs`, `docs/model.md#no-such-heading`, [x](no-such-file.md)";
    let found = problems(&code, "README.md", bad);
    assert_eq!(found.len(), 10, "{found:#?}");
    let good = "`kernels::max_pool::max_pool2_candle`, `kernels::use_candle_kernels`, \
                `dcrobust::data::fuzz_entry`, `dcrobust_reports::parse_*`, `Mode::Frozen`, \
                `Model::bounds`, `kernels::support::multiversion!`, `AttackKind::ALL`, \
                `gemm_common::cache::kernel_params`, `src/suite/adversarial/cell.rs`, \
                `kernels/fused/tail.rs`, `docs/model.md#cnn-9`, [x](docs/zoo.md#the-models)";
    let found = problems(&code, "README.md", good);
    assert!(found.is_empty(), "{found:#?}");
}

/// The repository's files: what `git ls-files` lists, or, outside a git checkout, every file
/// under the root but build output (`target/`, `.git/`, `.cuda/`, `runs/`, `gpu-bundle/`).
fn repository_files() -> Vec<PathBuf> {
    let listed = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root())
        .output();
    if let Ok(o) = listed {
        if o.status.success() && !o.stdout.is_empty() {
            return o
                .stdout
                .split(|&b| b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| root().join(String::from_utf8_lossy(p).as_ref()))
                .collect();
        }
    }
    let skip = ["target", ".git", ".cuda", "runs", "gpu-bundle", "gpu-data"];
    let mut out = Vec::new();
    let mut stack = vec![root().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                if !skip.iter().any(|s| e.file_name() == *s) {
                    stack.push(p);
                }
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The marks of a development machine's paths: the real-data folder beside the checkout and
/// the absolute work folder, assembled here so that this file does not hold them itself.
fn machine_marks() -> [String; 2] {
    [["..", "shared"].join("/"), format!("/{}/", "work")]
}

/// Oracle: the text of every file of the repository (documents, scripts, committed results, the
/// zoo's recorded configurations and training commands). None holds a [`machine_marks`] path
/// (the development machine's data folder next to the checkout, or its absolute work folder);
/// recorded commands and documents write `--data PATH/TO/cifar10` instead. One file is exempt:
/// the data tests' helper (`src/data/mod.rs`), which finds the real-data folder that CI lays
/// beside the clone.
#[test]
fn no_file_holds_a_path_of_the_development_machine() {
    let files = repository_files();
    let exempt = ["src/data/mod.rs"];
    let marks = machine_marks();
    let mut found = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(root())
            .unwrap_or(f)
            .to_string_lossy()
            .to_string();
        if exempt.contains(&rel.as_str()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(f) else {
            continue; // not text (weights, pictures, archives)
        };
        for (i, l) in text.lines().enumerate() {
            if marks.iter().any(|m| l.contains(m.as_str())) {
                found.push(format!("{rel}:{}: {}", i + 1, l.trim()));
            }
        }
    }
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("src/zoo/cnn9-baseline/zoo.json")),
        "the zoo's records are among the {} files read",
        files.len()
    );
    assert!(
        found.is_empty(),
        "machine paths in the repository:\n{}",
        found.join("\n")
    );
}
