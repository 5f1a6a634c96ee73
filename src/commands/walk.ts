/** `/walk prompt:<p>`: a walk around one prompt's embedding, `step_size` per frame. */
import { singlePromptCommand } from './singlePrompt.ts';

export const walk = singlePromptCommand({
  kind: 'walk',
  description: 'A walk around one prompt',
  promptDescription: 'What to walk around',
  options: ['step_size', 'frames', 'seed', 'fps', 'steps', 'guidance', 'size', 'format'],
});
