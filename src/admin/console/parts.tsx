import type { ComponentChildren as Child, FunctionComponent as FC } from 'preact';

/** Pieces more than one console page is built from. */

/** A table with one header row of column headings; `scroll` lets a wide one scroll sideways on a narrow screen. */
export const Table: FC<{ head: Child[]; scroll?: boolean; class?: string }> = ({ head, scroll, class: cls, children }) => {
  const table = (
    <table class={cls}>
      <thead>
        <tr>
          {head.map((h) => (
            <th scope="col">{h}</th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
  return scroll ? <div class="scroll">{table}</div> : table;
};

/** The free-text reason of an admin action (kept in the audit record); `form` ties it to a form elsewhere in the row. */
export const Reason: FC<{ label: string; form?: string; id?: string }> = ({ label, form, id }) => (
  <input type="text" class="reason" name="reason" placeholder="Reason" aria-label={label} maxlength={1000} form={form} id={id} />
);

/** A user in a table cell: name (if known), email and IdP subject. */
export const UserCell: FC<{ user: { sub: string; email?: string; name?: string } }> = ({ user }) => (
  <>
    {user.name ? <div class="agent-name">{user.name}</div> : null}
    <div class="small">
      {user.email ?? ''} <code class="muted">{user.sub}</code>
    </div>
  </>
);
