/**
 * The two CLI entry points: `register-commands` (guild and global, `--print`, usage errors) and `bot` (starts
 * from the environment against LocalDiscord and Redis, answers an interaction, stops on SIGTERM with exit 0,
 * and never prints its token). Also: commands used outside a server get an ephemeral answer.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ChatInputCommandInteraction } from 'discord.js';
import { InteractionRouter } from '../src/bot/interactions.ts';
import { silentLogger } from '../src/bot/log.ts';
import { RenderService } from '../src/bot/RenderService.ts';
import type { BotContext, BotServices } from '../src/bot/types.ts';
import { runRegisterCommandsCommand } from '../src/cli/register-commands.ts';
import { CliUsageError } from '../src/cli/CliError.ts';
import { LocalDiscord } from '../src/local-discord/index.ts';
import { TestRedis, waitFor } from './harness/redis.ts';

const TOKEN = 'cli-test-bot-token.abcdefghijklmnop';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
let redis: TestRedis;
let discord: LocalDiscord;

before(async () => {
  redis = await TestRedis.start();
  discord = await LocalDiscord.start({ token: TOKEN });
});
after(async () => {
  await discord?.close();
  await redis?.stop();
});

async function withEnv<T>(env: Record<string, string | undefined>, work: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await work();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function captureStdout(work: () => Promise<number>): Promise<{ code: number; out: string }> {
  const original = console.log;
  let out = '';
  console.log = (...args: unknown[]) => {
    out += `${args.join(' ')}\n`;
  };
  try {
    return { code: await work(), out };
  } finally {
    console.log = original;
  }
}

describe('register-commands', () => {
  const env = { DISCORD_TOKEN: TOKEN, DISCORD_API_URL: '', DISCORD_APPLICATION_ID: undefined };

  it('registers the commands in a guild, and globally', async () => {
    const guild = discord.guilds()[0]!.id;
    await withEnv({ ...env, DISCORD_API_URL: discord.restUrl }, async () => {
      const inGuild = await captureStdout(() => runRegisterCommandsCommand(['--guild', guild]));
      assert.equal(inGuild.code, 0);
      assert.match(inGuild.out, /registered 9 commands in guild .*\/morph \/grid \/loop \/walk \/chain \/queue \/cancel \/settings \/Morph from this image/);
      assert.deepEqual(discord.registeredCommands(guild).map((c) => c.name).sort(), ['Morph from this image', 'cancel', 'chain', 'grid', 'loop', 'morph', 'queue', 'settings', 'walk']);
      const again = await captureStdout(() => runRegisterCommandsCommand(['--guild', guild]));
      assert.match(again.out, /the 9 commands in guild .* are up to date/, 'nothing registered when nothing changed');
      const global = await captureStdout(() => runRegisterCommandsCommand([]));
      assert.match(global.out, /globally/);
      assert.equal(discord.registeredCommands().length, 9);
    });
  });

  it('prints the definitions, and refuses bad arguments and a missing token', async () => {
    const printed = await captureStdout(() => runRegisterCommandsCommand(['--print']));
    assert.equal((JSON.parse(printed.out) as unknown[]).length, 9, '8 slash commands and the Morph from this image menu');
    await assert.rejects(runRegisterCommandsCommand(['--guild', 'abc']), CliUsageError);
    await assert.rejects(runRegisterCommandsCommand(['--nope']), CliUsageError);
    await withEnv({ DISCORD_TOKEN: undefined }, async () => {
      await assert.rejects(runRegisterCommandsCommand([]), /DISCORD_TOKEN is not set/);
    });
  });
});

describe('latentwalk bot', () => {
  it('starts from the environment, answers, stops on SIGTERM, never prints the token', async () => {
    const guild = discord.guilds()[0]!;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', "const m = await import('./src/cli/bot.ts'); process.exitCode = await m.runBotCommand([]);"],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          DISCORD_TOKEN: TOKEN,
          DISCORD_API_URL: discord.restUrl,
          REDIS_URL: redis.url,
          LATENTWALK_REDIS_PREFIX: 'clitest',
          LATENTWALK_LOG_LEVEL: 'debug',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      await waitFor('bot ready', () => output.includes('"bot ready"'), 30_000);
      const handle = await discord.slashCommand({ guildId: guild.id, channelId: guild.channels[0]!.id, userId: guild.members[1]!.id, name: 'queue' });
      const answer = await waitFor('the /queue answer', () => {
        const state = discord.interactionResponse(handle.interactionId);
        const message = state?.originalMessageId ? discord.message(state.originalMessageId) : undefined;
        return message && message.content ? message.content : undefined;
      });
      assert.match(answer, /Nothing is queued/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, output);
    assert.match(output, /"bot stopped"/);
    assert.ok(!output.includes(TOKEN), 'the token never reaches the log');
  });

  it('a bad setting stops it with the variable named', async () => {
    const { runBotCommand } = await import('../src/cli/bot.ts');
    await withEnv({ DISCORD_TOKEN: TOKEN, LATENTWALK_PROGRESS_INTERVAL_MS: 'fast' }, async () => {
      await assert.rejects(runBotCommand([]), /LATENTWALK_PROGRESS_INTERVAL_MS must be a whole number/);
    });
  });
});

describe('outside a server', () => {
  it('every command answers ephemerally that it only works in a server', async () => {
    const services = { log: silentLogger } as unknown as BotServices;
    const render = new RenderService(services);
    const router = new InteractionRouter({ ...services, render } as unknown as BotContext);
    for (const name of ['morph', 'grid', 'loop', 'walk', 'chain', 'queue', 'cancel', 'settings']) {
      const replies: { content?: string; flags?: number }[] = [];
      const interaction = {
        type: 2,
        commandName: name,
        isChatInputCommand: () => true,
        isButton: () => false,
        isModalSubmit: () => false,
        isRepliable: () => true,
        inGuild: () => false,
        guildId: null,
        channelId: '1',
        user: { id: '2' },
        deferred: false,
        replied: false,
        memberPermissions: null,
        options: {
          getString: () => 'a prompt',
          getInteger: () => null,
          getNumber: () => null,
          getBoolean: () => null,
          getSubcommand: () => 'show',
          getChannel: () => null,
        },
        reply: async (payload: { content?: string; flags?: number }) => {
          replies.push(payload);
        },
        followUp: async (payload: { content?: string; flags?: number }) => {
          replies.push(payload);
        },
      } as unknown as ChatInputCommandInteraction;
      await router.handle(interaction);
      assert.equal(replies.length, 1, name);
      assert.equal(replies[0]!.flags, 64, `${name}: ephemeral`);
      assert.match(replies[0]!.content ?? '', /server/, name);
    }
  });
});
