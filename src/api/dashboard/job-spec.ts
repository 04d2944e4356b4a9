// The JobSpec JSON the submit form sends. Only what cannot be put into JSON at all is refused
// here (no command, a constraint line without an operator); everything else goes to the API as
// typed, so its refusals name the field in its own words.

const CONSTRAINT = /^\s*([^\s=!]+)\s*(!=|=|not_in\b|in\b)\s*(.*?)\s*$/

/** The form's fields as typed. */
export interface Fields { name: string; cpu: string; mem: string; count: string; type: string; constraints: string }

/** The JobSpec JSON for the form's fields; throws an Error whose message is shown as it is. */
export function buildSpec(command: string, viaShell: boolean, f: Fields): Record<string, unknown> {
  if (command === '') throw new Error('command: say what to run')
  const spec: Record<string, unknown> = { command: viaShell ? ['sh', '-c', command] : command.split(/\s+/) }
  if (f.name !== '') spec['name'] = f.name
  const resources: Record<string, number> = {}
  // Non-numbers go as null, so the API names the field and says what it wants.
  if (f.cpu !== '') resources['cpu'] = Number(f.cpu)
  if (f.mem !== '') resources['memoryMb'] = Number(f.mem)
  if (Object.keys(resources).length > 0) spec['resources'] = resources
  if (f.count !== '') spec['count'] = Number(f.count)
  if (f.type !== '') spec['type'] = f.type
  const lines = f.constraints.split(/\n|;/).map((l) => l.trim()).filter((l) => l !== '')
  if (lines.length > 0) {
    spec['constraints'] = lines.map((line, i) => {
      const m = CONSTRAINT.exec(line)
      if (m === null) throw new Error(`constraint ${i + 1} ('${line}'): write label = value, label != value, label in a,b or label not_in a,b`)
      return { label: m[1], op: m[2], value: m[3] }
    })
  }
  return spec
}
