/**
 * The bot's side of an interaction: the initial callback (reply, defer, deferred update, update, autocomplete
 * result, modal) and the webhook routes that edit the original response or send follow-ups.
 */
import type { APIModalInteractionResponseCallbackData } from 'discord.js';
import { Errors, invalidFormBody } from '../errors.ts';
import type { MessageInput, MessageService } from '../messages.ts';
import type { ChannelState, Store, StoredMessage } from '../store.ts';
import { assertEditable, prepareSend } from '../threads.ts';
import type { OpenedModal } from '../types.ts';
import { validateAutocompleteChoices, validateModal, type Json } from '../validate.ts';
import { InteractionType, type InteractionRecord, type InteractionRegistry } from './registry.ts';

export const CallbackType = {
  ChannelMessageWithSource: 4,
  DeferredChannelMessageWithSource: 5,
  DeferredUpdateMessage: 6,
  UpdateMessage: 7,
  AutocompleteResult: 8,
  Modal: 9,
} as const;

export interface RespondDeps {
  store: Store;
  registry: InteractionRegistry;
  messages: MessageService;
  now: () => number;
  onResponse: (record: InteractionRecord) => void;
  onModal: (modal: OpenedModal) => void;
  /** A response unarchived the thread it was posted in. */
  channelChanged: (channel: ChannelState) => void;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const EPHEMERAL = 1 << 6;

export class InteractionResponder {
  constructor(private readonly deps: RespondDeps) {}

  /** `POST /interactions/{id}/{token}/callback`; returns the body for `with_response=true`. */
  callback(id: string, token: string, input: MessageInput): Json {
    const record = this.deps.registry.forCallback(id, token);
    const type = input.body.type;
    const data = isObject(input.body.data) ? input.body.data : {};
    const fromComponent = record.type === InteractionType.MessageComponent ||
      (record.type === InteractionType.ModalSubmit && record.sourceMessageId !== null);
    const allowed: number[] =
      record.type === InteractionType.Autocomplete ? [CallbackType.AutocompleteResult]
      : [CallbackType.ChannelMessageWithSource, CallbackType.DeferredChannelMessageWithSource,
        ...(fromComponent ? [CallbackType.DeferredUpdateMessage, CallbackType.UpdateMessage] : []),
        ...(record.type !== InteractionType.ModalSubmit ? [CallbackType.Modal] : [])];
    if (typeof type !== 'number' || !allowed.includes(type)) {
      throw invalidFormBody([{ path: 'type', code: 'INTERACTION_CALLBACK_TYPE_INVALID', message: `Value must be one of (${allowed.join(', ')}).` }]);
    }
    const messageInput: MessageInput = { body: data, files: input.files };
    let message: StoredMessage | undefined;
    switch (type) {
      case CallbackType.ChannelMessageWithSource:
        message = this.#create(record, messageInput, false);
        record.originalMessageId = message.data.id;
        record.ephemeral = message.meta.visibleTo !== null;
        break;
      case CallbackType.DeferredChannelMessageWithSource: {
        // The "is thinking..." placeholder; the first edit (or follow-up) becomes the reply. Only the
        // ephemeral flag counts here, and it cannot change later.
        const ephemeral = typeof data.flags === 'number' && (data.flags & EPHEMERAL) !== 0;
        message = this.#create(record, { body: {}, files: [] }, true, ephemeral);
        record.originalMessageId = message.data.id;
        record.deferred = true;
        record.ephemeral = ephemeral;
        break;
      }
      case CallbackType.DeferredUpdateMessage:
        record.originalMessageId = record.sourceMessageId;
        record.deferred = true;
        break;
      case CallbackType.UpdateMessage: {
        const source = this.deps.store.messages.get(record.sourceMessageId ?? '');
        if (!source) throw Errors.unknownMessage();
        this.#assertEditable(source);
        message = this.deps.messages.edit(source, messageInput, { fileSizeLimit: record.attachmentSizeLimit, canMentionEveryone: true });
        record.originalMessageId = source.data.id;
        break;
      }
      case CallbackType.AutocompleteResult: {
        validateAutocompleteChoices(data, record.focusedOptionType);
        record.autocompleteChoices = structuredClone(data.choices as unknown[]);
        break;
      }
      case CallbackType.Modal: {
        validateModal(data);
        const modal = structuredClone(data) as unknown as APIModalInteractionResponseCallbackData;
        record.modal = modal;
        const opened: OpenedModal = {
          interactionId: record.id,
          userId: record.userId,
          guildId: record.guildId,
          channelId: record.channelId,
          messageId: record.type === InteractionType.MessageComponent ? record.sourceMessageId : null,
          openedAt: this.deps.now(),
          modal,
          submitted: false,
        };
        this.deps.registry.modals.push(opened);
        record.response = { type, at: this.deps.now() };
        this.deps.onModal(opened);
        break;
      }
    }
    record.response ??= { type, at: this.deps.now() };
    this.deps.onResponse(record);
    return {
      interaction: {
        id: record.id,
        type: record.type,
        ...(message ? {
          response_message_id: message.data.id,
          response_message_loading: message.meta.loading,
          response_message_ephemeral: message.meta.visibleTo !== null,
        } : {}),
      },
      resource: { type, ...(message ? { message: structuredClone(message.data) } : {}) },
    };
  }

  /** `GET /webhooks/{app}/{token}/messages/{id|@original}` */
  fetch(applicationId: string, token: string, ref: string): StoredMessage {
    return this.#target(this.deps.registry.forWebhook(applicationId, token), ref);
  }

  /** `PATCH /webhooks/{app}/{token}/messages/{id|@original}` */
  edit(applicationId: string, token: string, ref: string, input: MessageInput): StoredMessage {
    const record = this.deps.registry.forWebhook(applicationId, token);
    const target = this.#target(record, ref);
    this.#assertEditable(target);
    return this.deps.messages.edit(target, input, { fileSizeLimit: record.attachmentSizeLimit, canMentionEveryone: true });
  }

  /** `DELETE /webhooks/{app}/{token}/messages/{id|@original}` */
  delete(applicationId: string, token: string, ref: string): void {
    const record = this.deps.registry.forWebhook(applicationId, token);
    this.deps.messages.delete(this.#target(record, ref));
  }

  /** `POST /webhooks/{app}/{token}`: a follow-up; the first one after a defer fills the placeholder. */
  followUp(applicationId: string, token: string, input: MessageInput): StoredMessage {
    const record = this.deps.registry.forWebhook(applicationId, token);
    const original = this.deps.store.messages.get(record.originalMessageId ?? '');
    if (original?.meta.loading) {
      this.#assertEditable(original);
      return this.deps.messages.edit(original, input, { fileSizeLimit: record.attachmentSizeLimit, canMentionEveryone: true });
    }
    const message = this.#create(record, input, false, undefined, record.originalMessageId ?? undefined);
    record.followUpIds.push(message.data.id);
    return message;
  }

  #assertEditable(message: StoredMessage): void {
    const channel = this.deps.store.channels.get(message.data.channel_id);
    if (channel) assertEditable(channel);
  }

  #target(record: InteractionRecord, ref: string): StoredMessage {
    const id = ref === '@original' ? record.originalMessageId : ref;
    const owned = id !== null && (id === record.originalMessageId || record.followUpIds.includes(id));
    const message = owned ? this.deps.store.messages.get(id) : undefined;
    if (!message) throw Errors.unknownMessage();
    return message;
  }

  #create(
    record: InteractionRecord,
    input: MessageInput,
    loading: boolean,
    ephemeral?: boolean,
    originalResponseId?: string,
  ): StoredMessage {
    const channel = this.deps.store.channels.get(record.channelId);
    if (!channel) throw Errors.unknownChannel();
    if (prepareSend(channel, this.deps.now)) this.deps.channelChanged(channel);
    return this.deps.messages.create(
      {
        channel,
        viaInteraction: true,
        fileSizeLimit: record.attachmentSizeLimit,
        canMentionEveryone: true,
        ephemeralFor: record.userId,
        ...(ephemeral !== undefined ? { ephemeral } : {}),
        interactionId: record.id,
        interactionMetadata: {
          ...record.metadata,
          ...(originalResponseId ? { original_response_message_id: originalResponseId } : {}),
        },
        type: record.type === InteractionType.ApplicationCommand ? 20 : 0,
        loading,
      },
      input,
    );
  }
}
