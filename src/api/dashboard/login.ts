// The token prompt. With --api-token set, the page asks for the token once; the client keeps it
// for this tab (sessionStorage) and sends it as `Authorization: Bearer` on every request. The
// token never goes into a URL (no query parameter, no link), so it stays out of history and logs.
import { byId, setText } from './dom.js'

/** Shows the prompt (with `message`, e.g. why the last token was refused) until a token is entered. */
export function askForToken(message: string): Promise<string> {
  const view = byId('login-view')
  const form = byId<HTMLFormElement>('login-form')
  const input = byId<HTMLInputElement>('login-token')
  const note = byId('login-message')
  setText(note, message)
  note.className = message === '' ? 'message' : 'message error'
  view.hidden = false
  input.value = ''
  input.focus()
  return new Promise((resolve) => {
    const onSubmit = (event: SubmitEvent): void => {
      event.preventDefault()
      const token = input.value.trim()
      if (token === '') { setText(note, 'enter the token the agents were started with (--api-token)'); return }
      form.removeEventListener('submit', onSubmit)
      view.hidden = true
      resolve(token)
    }
    form.addEventListener('submit', onSubmit)
  })
}
