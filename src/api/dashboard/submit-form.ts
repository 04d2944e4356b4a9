// The form that submits a job. The page checks only what it must to build the JSON (the shape of
// a constraint line); everything else goes to the API as typed, so a refusal is shown in the
// API's own words ("body/resources/cpu must be > 0").
import { SUBMIT_TIMEOUT_MS, type ApiClient } from './api-client.js'
import { byId, setText } from './dom.js'
import { buildSpec } from './job-spec.js'

export function mountSubmitForm(client: ApiClient, submitted: (id: string) => void): void {
  const form = byId<HTMLFormElement>('submit-form')
  const message = byId('submit-message')
  const field = (id: string): string => byId<HTMLInputElement>(id).value.trim()

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    let spec: Record<string, unknown>
    try {
      spec = buildSpec(field('f-command'), byId<HTMLInputElement>('f-shell').checked, {
        name: field('f-name'), cpu: field('f-cpu'), mem: field('f-mem'), count: field('f-count'),
        type: field('f-type'), constraints: byId<HTMLTextAreaElement>('f-constraints').value,
      })
    } catch (err) {
      show(message, err instanceof Error ? err.message : String(err), true)
      return
    }
    const button = form.querySelector('button[type=submit]') as HTMLButtonElement
    button.disabled = true
    show(message, 'submitting… (answered once the job is on disk on its storing nodes)', false)
    // A key per click: if the agent dies mid-request, the retry on another agent creates nothing new.
    const key = crypto.randomUUID()
    client.json('/v1/jobs', {
      method: 'POST', body: JSON.stringify(spec),
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
    }, SUBMIT_TIMEOUT_MS).then((body) => {
      const id = (body as { id?: unknown } | undefined)?.id
      show(message, typeof id === 'string' ? `submitted ${id}` : 'submitted', false)
      if (typeof id === 'string') submitted(id)
    }, (err: unknown) => {
      show(message, err instanceof Error ? err.message : String(err), true)
    }).finally(() => { button.disabled = false })
  })
}

function show(el: HTMLElement, text: string, error: boolean): void {
  setText(el, text)
  el.className = error ? 'message error' : 'message'
}
