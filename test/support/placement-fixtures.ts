// A node as placement sees it, alive and empty unless the test says otherwise.
import type { NodeView, Resources } from '../../src/placement/index.js'

export function nodeView(id: string, patch: Partial<NodeView> = {}, size: Resources = { cpu: 4, memoryMb: 4096 }): NodeView {
  return { id, name: id, state: 'alive', draining: false, total: { ...size }, free: { ...size }, labels: {}, ...patch }
}
