/** `/loop prompt:<p>`: a seamless looping walk through the noise around one prompt. */
import { singlePromptCommand } from './singlePrompt.ts';

export const loop = singlePromptCommand({
  kind: 'loop',
  description: 'A seamless looping animation around one prompt',
  promptDescription: 'What to loop around',
  options: ['frames', 'seed', 'fps', 'steps', 'guidance', 'size', 'format'],
});
