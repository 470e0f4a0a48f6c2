// Small building blocks every page uses: labelled fields that show the API's error beside them,
// an edit form folded under a summary, a confirmation dialog for destructive actions, a secret
// shown once, paging.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.ts';

export interface FieldProps {
  readonly label: string;
  readonly name: string;
  readonly value: string;
  readonly onInput: (value: string) => void;
  readonly error?: ApiError | Error | undefined;
  readonly type?: string;
  readonly hint?: string;
  readonly required?: boolean;
}

/** A labelled input; the API's error is shown under it when the API names this field. */
export function Field({ label, name, value, onInput, error, type = 'text', hint, required }: FieldProps) {
  const id = `field-${name}`;
  const mine = error instanceof ApiError && error.field === name;
  const described = [hint ? `${id}-hint` : '', mine ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} name={name} type={type} value={value} required={required} aria-invalid={mine ? 'true' : undefined} aria-describedby={described || undefined} onInput={(e) => onInput((e.target as HTMLInputElement).value)} />
      {hint && <p class="hint" id={`${id}-hint`}>{hint}</p>}
      {mine && <p class="field-error" id={`${id}-error`}>{error.message}</p>}
    </div>
  );
}

/** A labelled checkbox (a boolean the API takes, e.g. `email_verified`). */
export function Checkbox({ label, name, checked, onChange }: { label: string; name: string; checked: boolean; onChange: (checked: boolean) => void }) {
  const id = `field-${name}`;
  return (
    <div class="field check">
      <input id={id} name={name} type="checkbox" checked={checked} onChange={(e) => onChange((e.target as HTMLInputElement).checked)} />
      <label for={id}>{label}</label>
    </div>
  );
}

/**
 * The API names a field of its request (`scopes[1].name`, `password`); a page showing several
 * forms gives each its own field names. This renames the error's field to the one the form shows,
 * or to none (then the form shows it) when `rename` knows no such field.
 */
export function forFields(error: ApiError | Error | undefined, rename: (field: string) => string | undefined): ApiError | Error | undefined {
  if (!(error instanceof ApiError) || !error.field) return error;
  return new ApiError(error.status, error.code, error.message, rename(error.field));
}

/** A suffix for field ids made of an id or a name (`https://x/y` → `https___x_y`). */
export const fieldSuffix = (id: string): string => id.replace(/[^A-Za-z0-9_-]/g, '_');

/**
 * `rename` for a form whose fields are some of the API's top-level names plus a suffix
 * (`scopes[2]` → `scopes-role1`); a field the form does not show goes to the form's error.
 */
export const suffixed = (suffix: string, names: readonly string[]) => (field: string) => {
  const top = /^[^.[]+/.exec(field)?.[0] ?? field;
  return names.includes(top) ? `${top}-${suffix}` : undefined;
};

/**
 * A change to something listed on the page, folded under "Edit …" so the list stays short: the
 * form, its error and its submit button.
 */
export function EditForm({ summary, submit, error, busy, onSubmit, children }: { summary: string; submit: string; error: ApiError | Error | undefined; busy: boolean; onSubmit: () => void; children: ComponentChildren }) {
  return (
    <details>
      <summary>{summary}</summary>
      <form onSubmit={(e) => (e.preventDefault(), onSubmit())}>
        {children}
        <FormError error={error} />
        <button type="submit" class="small" disabled={busy}>{submit}</button>
      </form>
    </details>
  );
}

/** The error of a form that no field owns. */
export function FormError({ error }: { error: ApiError | Error | undefined }) {
  if (!error || (error instanceof ApiError && error.field)) return null;
  return <p class="error" role="alert">{error.message}</p>;
}

/** Runs a form's action, keeping its error for the fields and the form. */
export function useAction(): [ApiError | Error | undefined, boolean, (action: () => Promise<void>) => Promise<void>] {
  const [error, setError] = useState<ApiError | Error | undefined>();
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  return [error, busy, run];
}

/** A button that asks first (a modal <dialog>: focus moves into it and Escape cancels). */
export function ConfirmButton({ label, question, onConfirm, danger = true }: { label: string; question: string; onConfirm: () => Promise<void> | void; danger?: boolean }) {
  const dialog = useRef<HTMLDialogElement>(null);
  return (
    <>
      <button type="button" class={danger ? 'danger small' : 'small'} onClick={() => dialog.current?.showModal()}>
        {label}
      </button>
      <dialog ref={dialog} aria-label={label}>
        <p>{question}</p>
        <div class="actions">
          <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
          <button
            type="button"
            class={danger ? 'danger' : ''}
            onClick={async () => {
              dialog.current?.close();
              await onConfirm();
            }}
          >
            {`Yes, ${label.toLowerCase()}`}
          </button>
        </div>
      </dialog>
    </>
  );
}

/** A secret the API returns once: shown with a copy button and a warning. */
export function ShownOnce({ label, value }: { label: string; value: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="notice" role="status">
      <p>
        <strong>{label}</strong>: shown now and never again. Copy it somewhere safe.
      </p>
      <code class="secret" data-testid="secret">{value}</code>
      <button
        type="button"
        class="small"
        onClick={async () => {
          await navigator.clipboard?.writeText(value).catch(() => undefined);
          setCopied(true);
        }}
      >
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}

export function Pager({ total, offset, limit, onOffset }: { total: number; offset: number; limit: number; onOffset: (offset: number) => void }) {
  if (total <= limit) return <p class="hint">{total} in all</p>;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="small secondary" disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - limit))}>
        Previous
      </button>
      <span>
        {offset + 1}–{Math.min(total, offset + limit)} of {total}
      </span>
      <button type="button" class="small secondary" disabled={offset + limit >= total} onClick={() => onOffset(offset + limit)}>
        Next
      </button>
    </nav>
  );
}

/** Loads data for a page, again whenever `deps` change or `reload` is called. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: Error | undefined; reload: () => void } {
  const [data, setData] = useState<T | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => live && (setData(value), setError(undefined)),
      (e: Error) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="panel" aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export const list = (text: string): string[] => text.split(/[\s,]+/).filter(Boolean);
export const when = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString() : '—');
